"""The scripter's blocking call ``SDSegModuleLogic.process`` from Slicer's Python console, without the panel.

* A node of the wrong kind (the segmentation where the volume belongs, a labelmap, a name string,
  swapped arguments) failed with an ``AttributeError`` from deep inside
  (``'vtkMRMLSegmentationNode' object has no attribute 'GetImageData'``), not the ``SDSegError``
  the docstring promises; now an ``InputError`` names the argument, the node and what it takes,
  before any engine starts.
* A model that is not on this computer (a mistyped id, a moved folder) started an engine that
  died seconds later while loading it, with its log as the error; now a ``CheckpointError`` says
  so at once and how to add the model, and no engine starts (the panel disables Segment then).
* The documented path (``import SDSeg; SDSeg.SDSegModuleLogic().process(volume, ...)``) works with
  no widget ever made and returns the segmentation node in the scene.

Against ``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer) with the real engine
and the tiny two-class model. The node classes follow Slicer's (checked in its source,
``Libs/MRML/Core``): ``vtkMRMLLabelMapVolumeNode`` derives from ``vtkMRMLScalarVolumeNode``, and so
does ``vtkMRMLVectorVolumeNode`` (through ``vtkMRMLTensorVolumeNode``); ``IsA`` alone would let a
labelmap through. The panel's input selector lists exactly the scalar and vector classes
(``showChildNodeTypes`` false in ``Resources/UI/SDSeg.ui``), so the script refuses a labelmap as
the panel never offers it.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path


def _scene(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(3).normal(0, 120, (3, 32, 32)).astype(np.int16)))
    return fake, volume


def _fresh_engines():
    from SDSegLib.engine_runner import EngineManager

    return EngineManager(log=lambda line: None, extra_args=("--threads", "1"))


@pytest.mark.parametrize("case", ["segmentation as input", "name as input", "labelmap as input", "ROI as input",
                                  "volume as output segmentation", "segmentation as probability volume",
                                  "volume as ROI"])
def test_process_refuses_a_node_of_the_wrong_kind_before_any_engine_starts(monkeypatch, model_folder, case):
    import fake_slicer
    import fake_slicer_nodes

    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLogic.errors import InputError

    segmentation = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Seg")
    labelmap = fake.mrmlScene.AddNode(fake_slicer_nodes.FakeLabelMapVolumeNode("Labels", np.zeros((3, 32, 32), np.uint8)))
    roi = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("Box", (0, 10, 0, 10, 0, 2)))
    args, kwargs, names = {
        "segmentation as input": ((segmentation,), {}, ("input volume", "'Seg' (vtkMRMLSegmentationNode)")),
        "name as input": (("CT",), {}, ("input volume", "'CT'", "not a MRML node")),
        "labelmap as input": ((labelmap,), {}, ("input volume", "'Labels' (vtkMRMLLabelMapVolumeNode)")),
        "ROI as input": ((roi,), {}, ("input volume", "'Box' (vtkMRMLMarkupsROINode)")),
        "volume as output segmentation": ((volume, volume), {}, ("outputSegmentation", "'CT' (vtkMRMLScalarVolumeNode)")),
        "segmentation as probability volume": ((volume,), {"probabilityVolume": segmentation}, ("probabilityVolume", "'Seg'")),
        "volume as ROI": ((volume,), {"roiNode": volume}, ("roiNode", "'CT'")),
    }[case]
    engines = _fresh_engines()
    try:
        logic = SDSegModuleLogic(engineManager=engines)
        with pytest.raises(InputError) as caught:  # before: AttributeError (or a labelmap segmented as an image)
            logic.process(*args, model=str(model_folder), device="cpu", **kwargs)
        assert all(name in str(caught.value) for name in names), str(caught.value)
        assert "it takes" in str(caught.value)
        assert engines._process is None and not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")[1:]
    finally:
        engines.stop()


@pytest.mark.parametrize("model", ["no-such-model", "folder moved away", "listed, not installed"])
def test_process_refuses_a_model_that_is_not_here_before_any_engine_starts(monkeypatch, tmp_path, model):
    import json

    from slicer_logic_helpers import REPO

    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))
    _, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLogic.errors import CheckpointError

    spec = str(tmp_path / "moved-model") if model == "folder moved away" else model
    if model == "listed, not installed":  # the registry lists it, its files are not on this computer
        registry = json.loads((REPO / "Resources" / "models.json").read_text(encoding="utf-8"))
        entry = dict(registry["models"][0], id="listed-model", path="Models/not-downloaded")
        (tmp_path / "models.json").write_text(json.dumps({**registry, "models": [entry]}), encoding="utf-8")
        monkeypatch.setenv("SDSEG_REGISTRY", str(tmp_path / "models.json"))
        spec = "listed-model"
    engines = _fresh_engines()
    try:
        logic = SDSegModuleLogic(engineManager=engines)
        for start in (lambda: logic.process(volume, model=spec, device="cpu"),
                      lambda: logic.startJob(volume, model=spec, device="cpu")):
            with pytest.raises(CheckpointError, match="not available on this computer") as caught:
                start()  # before: an engine started, then died loading it (EngineDiedError with its log)
            assert spec in str(caught.value) and "importModelZip" in str(caught.value)
            assert engines._process is None and engines.log_path is None  # no engine was even started
    finally:
        engines.stop()


def test_the_documented_console_call_works_without_the_widget(monkeypatch, manager, model_folder):
    from engine_fixtures import TINY_CLASSES

    fake, volume = _scene(monkeypatch)
    import SDSeg  # as in the module docstring: the logic class of the module, no widget ever made

    logic = SDSeg.SDSegModuleLogic(engineManager=manager)
    node = logic.process(volume, model=str(model_folder), device="cpu", steps=1, samples=1)
    assert fake.mrmlScene.GetNodeByID(node.GetID()) is node and node.GetName() == "CT SDSeg"
    segments = node.GetSegmentation()
    assert segments.GetNumberOfSegments() == len(TINY_CLASSES)
    assert logic.process(volume, node, model=str(model_folder), device="cpu") is node  # into the chosen node
    assert segments.GetNumberOfSegments() == len(TINY_CLASSES)
