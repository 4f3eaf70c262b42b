"""``applyResult`` called by a script before its job ended says so, instead of "failed or was cancelled".

The non-blocking scripting pair is ``job = logic.startJob(volume)`` then ``logic.applyResult(job,
volume)`` once the job is done. A script that called ``applyResult`` right away (forgetting
``job.wait()``) was told "the job has no result to write (it failed or was cancelled)" while the job
was running fine, and a ``job.wait()`` later gave a result: the message sent the user looking for a
failure that never happened. Now it says the job is still running and to call ``job.wait()`` first;
a job that was cancelled is still reported as such.

Against ``Testing/Slicer/fake_slicer.py`` with the real engine and the tiny two-class model; the
same ``SDSegModuleLogic.applyResult`` runs in Slicer.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path


def _logic_and_volume(monkeypatch, manager, slices):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(9).normal(0, 120, (slices, 32, 32)).astype(np.int16)))
    return fake, SDSegModuleLogic(engineManager=manager), volume


def test_s20e_apply_result_before_the_job_ended_says_to_wait(monkeypatch, manager, model_folder):
    from SDSegLogic.errors import SDSegError

    fake, logic, volume = _logic_and_volume(monkeypatch, manager, slices=40)
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

    fake, logic, volume = _logic_and_volume(monkeypatch, manager, slices=3)
    job = logic.startJob(volume, model=str(model_folder), device="cpu")
    job.cancel()
    events = job.wait(120)
    if events[-1].kind == "done":  # the tiny run finished before the cancel reached the engine
        pytest.skip("the run ended before the cancel")
    with pytest.raises(SDSegError, match="failed or was cancelled"):
        logic.applyResult(job, volume)
