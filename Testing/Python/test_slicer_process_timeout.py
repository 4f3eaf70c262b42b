"""The blocking ``SDSegModuleLogic.process`` from the Python console when the engine is busy with another run.

Before, ``process`` waited with no limit while another client's run held the engine (a colleague
on a shared remote GPU engine, a script in another Slicer): the console hung. ``timeout`` now
bounds the wait: the run is cancelled, nothing is written and an SDSegError says why; without it
the call still waits for the engine. Against a real in-process engine serving the tiny
random-weight model whose other run is held until the test releases it, and
``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine_fixtures import wait_until
from slicer_logic_helpers import model_folder  # noqa: F401 - puts SDSegLib and fake_slicer on sys.path
from test_slicer_busy_wait import TOKEN, _other_run, engine, pipeline  # noqa: F401 - engine, pipeline are pytest fixtures
from SDSegLogic.errors import SDSegError
from SDSegLogic.server.client import EngineClient

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _logic_and_volume(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.engine_runner import EngineManager
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=EngineManager(log=lambda text: None))
    ijk_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros((2, 32, 32), np.int16), ijk_to_ras))
    return fake, logic, volume


def test_process_with_a_timeout_gives_up_on_a_busy_engine_with_a_clear_error(monkeypatch, engine):
    fake, logic, volume = _logic_and_volume(monkeypatch)
    other, other_results = _other_run(engine)
    started = time.monotonic()
    with pytest.raises(SDSegError, match=r"no result within 1\.5 s.*busy with another run.*nothing was written.*timeout"):
        logic.process(volume, model="remote", remoteUrl=engine.url, remoteToken=TOKEN, batchSize=1, timeout=1.5)
    assert time.monotonic() - started < 10.0  # before: no time limit at all
    assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
    engine.release.set()
    other.join(30)
    assert "output" in other_results, other_results  # the other run was not disturbed
    with EngineClient("127.0.0.1", engine.port, TOKEN) as client:  # the given-up run never reached the engine
        wait_until(lambda: not client.ping()["busy"], 10, "the engine is idle")
    segmentation = logic.process(volume, model="remote", remoteUrl=engine.url, remoteToken=TOKEN, batchSize=1, timeout=60)
    assert segmentation is not None  # a free engine within the limit: written as before


def test_process_without_a_timeout_still_waits_for_the_busy_engine(monkeypatch, engine):
    fake, logic, volume = _logic_and_volume(monkeypatch)
    other, _ = _other_run(engine)
    result = {}

    def console() -> None:
        try:
            result["node"] = logic.process(volume, model="remote", remoteUrl=engine.url, remoteToken=TOKEN, batchSize=1)
        except BaseException as exc:  # noqa: BLE001 - checked below
            result["error"] = exc

    thread = threading.Thread(target=console, daemon=True)
    thread.start()
    time.sleep(2.0)
    assert thread.is_alive() and not result  # default: waits for the engine, as before
    engine.release.set()
    thread.join(60)
    other.join(30)
    assert "node" in result, result


def test_process_refuses_a_timeout_that_is_not_a_positive_number(monkeypatch, engine):
    _fake, logic, volume = _logic_and_volume(monkeypatch)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(SDSegError, match=r"timeout .* must be a positive number of seconds"):
            logic.process(volume, model="remote", remoteUrl=engine.url, remoteToken=TOKEN, timeout=bad)
