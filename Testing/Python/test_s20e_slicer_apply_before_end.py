"""``applyResult`` called by a script before its job ended says so, instead of "failed or was cancelled".

The non-blocking scripting pair is ``job = logic.startJob(volume)`` then ``logic.applyResult(job,
volume)`` once the job is done. A script that called ``applyResult`` right away (forgetting
``job.wait()``) was told "the job has no result to write (it failed or was cancelled)" while the job
was running fine, and a ``job.wait()`` later gave a result: the message sent the user looking for a
failure that never happened. Now it says the job is still running and to call ``job.wait()`` first;
a job that was cancelled is still reported as such.

Against ``Testing/Slicer/fake_slicer.py`` with the real engine and the tiny two-class model; the
same ``SDSegModuleLogic.applyResult`` runs in Slicer. The job is held running without a race: the warm
engine process is paused (``SIGSTOP``) before the job starts and resumed (``SIGCONT``) after the
early ``applyResult``, so it cannot have ended in between however fast the machine (POSIX only).
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path


pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="pauses the engine process with SIGSTOP")


def _logic_and_volume(monkeypatch, manager, model_folder, slices):
    """(fake slicer, logic, CT volume of ``slices`` slices); the logic's engine is warm (one run done)."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(9).normal(0, 120, (slices, 32, 32)).astype(np.int16)))
    logic = SDSegModuleLogic(engineManager=manager)
    logic.process(volume, model=str(model_folder), device="cpu", firstSlice=0, lastSlice=0)  # warm: one slice
    for node in fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode"):
        fake.mrmlScene.RemoveNode(node)
    return fake, logic, volume


@contextmanager
def _engine_paused(manager):
    """The warm engine process stopped (SIGSTOP) inside the block, resumed (SIGCONT) after it."""
    pid = manager.process.popen.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_s20e_apply_result_before_the_job_ended_says_to_wait(monkeypatch, manager, model_folder):
    from SDSegLogic.errors import SDSegError

    fake, logic, volume = _logic_and_volume(monkeypatch, manager, model_folder, slices=4)
    with _engine_paused(manager):  # the job cannot end before the early applyResult
        job = logic.startJob(volume, model=str(model_folder), device="cpu", batchSize=1)
        with pytest.raises(SDSegError) as early:
            logic.applyResult(job, volume)  # the script forgot job.wait()
    assert "still running" in str(early.value) and "job.wait()" in str(early.value)
    assert "cancelled" not in str(early.value) and "failed" not in str(early.value)
    assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")  # nothing written
    assert job.wait(120)[-1].kind == "done"  # it had not failed
    assert logic.applyResult(job, volume).GetSegmentation().GetNumberOfSegments() == 2


def test_s20e_apply_result_of_a_cancelled_job_says_cancelled(monkeypatch, manager, model_folder):
    from SDSegLogic.errors import SDSegError

    fake, logic, volume = _logic_and_volume(monkeypatch, manager, model_folder, slices=40)
    with _engine_paused(manager):  # the cancel is given before the engine can work on the job
        job = logic.startJob(volume, model=str(model_folder), device="cpu", batchSize=1)
        job.cancel()
    events = job.wait(120)
    assert events[-1].kind != "done", [e.text for e in events]  # cancelled before its first slice
    with pytest.raises(SDSegError, match="failed or was cancelled"):
        logic.applyResult(job, volume)
