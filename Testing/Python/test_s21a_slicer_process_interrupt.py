"""Ctrl-C during the blocking ``SDSegModuleLogic.process`` cancels the run in the engine too.

Before, a KeyboardInterrupt (Ctrl-C in a terminal running ``Slicer --python-script``, or the
console's interrupt) left ``process`` at once but its job kept running in the engine: the engine
stayed busy segmenting a volume nobody would receive, and the next ``process`` call waited for it.
Now the interrupt cancels the job and waits briefly for the engine to confirm before it is
raised again. Against a real in-process engine serving the tiny random-weight model whose run is
held at its first slice (``test_slicer_busy_wait``'s fixture), and against the module's own local
engine process (the tiny two-class model, a run of many slow slices); MRML is ``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import signal
import threading

import numpy as np

import pytest

from engine_fixtures import wait_until
from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; put SDSegLib and fake_slicer on sys.path
from test_slicer_busy_wait import TOKEN, engine, pipeline  # noqa: F401 - engine, pipeline are pytest fixtures
from test_slicer_process_timeout import _logic_and_volume
from SDSegLogic.server.client import EngineClient

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _busy(engine) -> bool:
    with EngineClient("127.0.0.1", engine.port, TOKEN) as client:
        return bool(client.ping()["busy"])


def _interrupted(busy, run) -> None:
    """``run()`` given Ctrl-C (SIGINT to this thread) once ``busy()`` says the engine runs its job; KeyboardInterrupt expected.

    The SIGINT handler is Python's own while ``run()`` runs (so the test also works where pytest was started with
    SIGINT ignored) and is restored afterwards; the signalling thread is joined first, and a signal it sends after
    ``run()`` ended (``run()`` failed before the engine was busy) is swallowed, not raised into pytest.
    """
    main = threading.get_ident()
    stop = threading.Event()

    def interrupt_when_busy() -> None:
        wait_until(lambda: stop.is_set() or busy(), 60, "the engine runs the job")
        if not stop.is_set():
            signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupter = threading.Thread(target=interrupt_when_busy, daemon=True)
    try:
        interrupter.start()
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        signal.signal(signal.SIGINT, lambda signum, frame: None)  # a late signal of the interrupter is dropped
        stop.set()
        interrupter.join(70)
        signal.signal(signal.SIGINT, previous)


def test_s21a_ctrl_c_in_process_cancels_the_engine_job(monkeypatch, engine):
    fake, logic, volume = _logic_and_volume(monkeypatch)
    _interrupted(lambda: _busy(engine),
                 lambda: logic.process(volume, model="remote", remoteUrl=engine.url, remoteToken=TOKEN, batchSize=1))
    # before: the engine went on holding (then segmenting) the interrupted run for up to a minute
    wait_until(lambda: not _busy(engine), 30, "the engine's job is cancelled")  # the hold alone lasts 60 s
    engine.release.set()
    assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")  # nothing written
    assert logic.process(volume, model="remote", remoteUrl=engine.url, remoteToken=TOKEN, batchSize=1) is not None


def test_s21a_ctrl_c_in_process_cancels_the_local_engine_job(monkeypatch, manager, model_folder):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(3).normal(0, 120, (240, 32, 32)).astype(np.int16)))

    def local_busy() -> bool:
        process = manager.process
        if process is None or not process.alive():
            return False
        with process.client() as client:
            return bool(client.ping()["busy"])

    # 240 slices of 100 DDIM steps, one slice per batch: minutes of work, far beyond the 30 s the cancel is given,
    # while a cancel lands within one slice
    _interrupted(local_busy, lambda: logic.process(volume, model=str(model_folder), device="cpu", steps=100, batchSize=1))
    warm = manager.process.popen
    wait_until(lambda: not local_busy(), 30, "the local engine's job is cancelled")  # before: it segmented on
    assert warm.poll() is None and manager.process.popen is warm  # the engine stays warm for the next run
    assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
