"""A script's ``SDSegModuleLogic().process(volume)`` does not leave its engine running once the logic is gone.

Each ``SDSegModuleLogic()`` starts its own engine on first use. A script that makes a logic per
call (``SDSeg.SDSegModuleLogic().process(volume)`` in a loop over cases, the one-liner Slicer's AI
extensions document) dropped the logic after each call, but its engine process kept running, with
the model loaded in (GPU) memory, until Slicer exited: ``subprocess.Popen`` keeps a running child's
pipes open after the object is dropped, so the engine's stdin watch never fired. Three calls left
three engines; with the paper model on a GPU the next one ran out of memory. Now a logic that made
its own engine manager stops the engine when it is garbage-collected, and a job keeps its logic
(and so its engine) alive until it ends.

Against ``Testing/Slicer/fake_slicer.py`` with the real engine process and the tiny two-class
model; the engine, ``subprocess`` and Python's garbage collection are the real ones, as in Slicer.
"""

from __future__ import annotations

import gc

import numpy as np

from engine_fixtures import wait_until
from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path


def _volume(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    return fake, fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(7).normal(0, 120, (3, 32, 32)).astype(np.int16)))


def test_s20e_engine_of_a_dropped_logic_is_stopped(monkeypatch, model_folder):
    fake, volume = _volume(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    engines = []
    try:
        for _ in range(2):  # the script's loop: a new logic per case
            logic = SDSegModuleLogic()
            node = logic.process(volume, model=str(model_folder), device="cpu")
            assert node.GetSegmentation().GetNumberOfSegments() > 0
            engines.append(logic.engineManager.process)
            del logic
            gc.collect()
        assert engines[0] is not engines[1]
        # The job's worker thread holds the job, and the job its logic, until the thread returns, which may be
        # just after ``process`` returned: the logic is collected (and its engine stopped) then, not at ``del``.
        wait_until(lambda: gc.collect() >= 0 and not any(engine.alive() for engine in engines), timeout=60.0,
                   what="the engines of the dropped logics stopped")  # no engine left behind
    finally:
        for engine in engines:
            engine.stop()


def test_s20e_a_running_job_keeps_the_engine_of_its_dropped_logic(monkeypatch, model_folder):
    fake, volume = _volume(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    job = SDSegModuleLogic().startJob(volume, model=str(model_folder), device="cpu")  # the logic is dropped at once
    gc.collect()
    try:
        events = job.wait(120)
        assert events and events[-1].kind == "done", [e.text for e in events]
        node = SDSegModuleLogic().applyResult(job, volume)
        assert node.GetSegmentation().GetNumberOfSegments() == 2
    finally:
        job.manager.stop()
