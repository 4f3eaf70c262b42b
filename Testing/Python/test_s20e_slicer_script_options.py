"""Bad run options given to the scripter's ``SDSegModuleLogic.process`` (Slicer's Python console).

* ``device="gpu"`` (a natural guess; the engine says ``cuda``) or ``device=None`` stopped the warm
  engine and started one that died while loading the model: an ``EngineDiedError`` quoting the
  engine log ("exited with code 3"), or ``SDSegError: TypeError: expected str, bytes or
  os.PathLike object, not NoneType``, and the next good call had to load the model again. Now an
  ``InputError`` names the value and the device names to use, and the warm engine keeps running.
* ``seed="abc"`` failed with Python's ``invalid literal for int() with base 10: 'abc'`` (neither
  the argument nor the remedy named) and ``steps=2.7`` silently ran 2 steps; now both are refused
  with the argument's name and value.
* A volume node that holds no image (made by a script, not filled yet) was refused as "no input
  volume selected", though one was passed; now the message names the node and says it has no voxels.

Against ``Testing/Slicer/fake_slicer.py`` with the real engine and the tiny two-class model; in
Slicer the same code paths run (the checks are in ``SDSegLib``, before any engine call).
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path


def _warm_logic(monkeypatch, manager, model_folder):
    """(fake slicer, CT volume, module logic) after one good run, so the engine is warm."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(5).normal(0, 120, (3, 32, 32)).astype(np.int16)))
    logic = SDSegModuleLogic(engineManager=manager)
    logic.process(volume, model=str(model_folder), device="cpu")
    return fake, volume, logic


@pytest.mark.parametrize("device", ["gpu", None, "cuda:x"])
def test_s20e_unknown_device_is_refused_and_the_warm_engine_kept(monkeypatch, manager, model_folder, device):
    from SDSegLogic.errors import InputError

    fake, volume, logic = _warm_logic(monkeypatch, manager, model_folder)
    warm = manager.process.popen
    segmentations = len(fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode"))
    with pytest.raises(InputError) as refused:
        logic.process(volume, model=str(model_folder), device=device)
    assert repr(device) in str(refused.value) and "'cpu'" in str(refused.value)  # the value and the remedy
    assert manager.process is not None and manager.process.popen is warm and warm.poll() is None  # still warm
    assert len(fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")) == segmentations
    assert logic.process(volume, model=str(model_folder), device="CPU").GetSegmentation().GetNumberOfSegments() > 0
    assert manager.process.popen is warm  # the engine's own spelling rules: case does not matter


@pytest.mark.parametrize("argument, value", [("seed", "abc"), ("steps", 2.7), ("samples", True), ("batchSize", None)])
def test_s20e_number_option_that_is_not_whole_is_refused_by_name(monkeypatch, manager, model_folder, argument, value):
    from SDSegLogic.errors import InputError

    fake, volume, logic = _warm_logic(monkeypatch, manager, model_folder)
    with pytest.raises(InputError) as refused:
        logic.process(volume, model=str(model_folder), device="cpu", **{argument: value})
    assert f"{argument} {value!r}" in str(refused.value) and "whole number" in str(refused.value)
    with pytest.raises(InputError, match=f"{argument} {value!r}"):  # the panel's path, startJob, too
        logic.startJob(volume, model=str(model_folder), device="cpu", **{argument: value})


def test_s20e_whole_float_still_accepted(monkeypatch, manager, model_folder):
    fake, volume, logic = _warm_logic(monkeypatch, manager, model_folder)
    node = logic.process(volume, model=str(model_folder), device="cpu", steps=2.0, seed=np.int64(4))
    assert node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Steps") == "2"


def test_s20e_volume_without_voxels_is_named(monkeypatch, manager, model_folder):
    import fake_slicer
    from SDSegLogic.errors import InputError

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    empty = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("Scripted volume"))  # no image data yet
    with pytest.raises(InputError) as refused:
        SDSegModuleLogic(engineManager=manager).process(empty, model=str(model_folder), device="cpu")
    assert "'Scripted volume'" in str(refused.value) and "no voxels" in str(refused.value)
    assert "no input volume selected" not in str(refused.value)
