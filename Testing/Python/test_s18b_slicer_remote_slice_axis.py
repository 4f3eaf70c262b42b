"""Slice ranges with a remote engine are counted along the remote model's slicing axis.

The panel and ``process(firstSlice=, lastSlice=)`` count slice numbers along the axis the model
slices the volume across, which the model card's ``orientation`` decides. With a remote engine the
card is usually not on this computer, and the logic fell back to ``"LPS"`` (axial): for a model
cut in coronal slices, a range the user picked as k-slices was sent to an engine that reads it as
j-slices, so the wrong slices were segmented (and the segmentation's ``SDSeg.Slices`` tag named
another axis than the one the user counted along). Now the remote engine's ``info`` reply (its
``model_card``) gives the orientation; an engine whose card says none gets its range refused.

A real engine process (``EngineProcess``) serves a tiny model whose card says ``"LSP"`` (k along
Posterior: coronal slices); ``Testing/Slicer/fake_slicer.py`` stands in for MRML.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture

SHAPE = (7, 5, 32)  # (K, J, I) of an axial CT: 7 axial slices, 5 coronal ones


@pytest.fixture(scope="module")
def coronal_engine(tmp_path_factory):
    """A real engine process serving a tiny model cut in coronal slices (card orientation ``LSP``)."""
    from engine_fixtures import make_tiny_model
    from SDSegLogic.server.process import EngineProcess

    folder = make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-coronal", model_id="tiny-coronal")
    card_path = folder / "model_card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["orientation"] = "LSP"  # i: Left, j: Superior, k: Posterior
    card_path.write_text(json.dumps(card), encoding="utf-8")
    process = EngineProcess.start(folder, "cpu", extra_args=("--threads", "1"))
    yield process
    process.stop()


def _scene(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))
    return fake, volume


def test_a_region_is_counted_along_the_remote_models_axis(monkeypatch, coronal_engine, manager):
    """An ROI over coronal slices 1..2 (all axial ones) segments those two slices, not the whole volume."""
    import fake_slicer

    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    url, token = f"sdseg://{coronal_engine.host}:{coronal_engine.port}", coronal_engine.token
    roi = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R", (-1.0, 40.0, 1.0, 2.0, -1.0, 10.0)))  # RAS = IJK here
    node = logic.process(volume, model="not-on-this-computer", device="cpu", remoteUrl=url, remoteToken=token, roiNode=roi)
    segment = node.GetSegmentation().GetNthSegment(0)
    assert segment.GetTag("SDSeg.Slices") == "j 1..2"  # before: no tag, every slice segmented (k 0..6 spans the ROI)


def test_slice_numbers_are_counted_along_the_remote_models_axis(monkeypatch, coronal_engine, manager):
    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    url, token = f"sdseg://{coronal_engine.host}:{coronal_engine.port}", coronal_engine.token
    selection = logic.sliceSelection(volume, "not-on-this-computer", None, 1, 2, remoteUrl=url, remoteToken=token,
                                     refresh=True)
    assert (selection.letter, selection.count, selection.slices) == ("j", SHAPE[1], (1, 3))  # before: k, 7 slices
    node = logic.process(volume, model="not-on-this-computer", device="cpu", remoteUrl=url, remoteToken=token,
                         firstSlice=1, lastSlice=2)
    assert node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Slices") == "j 1..2"


def test_a_local_card_of_the_same_name_does_not_override_the_remote_one(monkeypatch, coronal_engine, manager, tmp_path):
    """The model chosen in the panel may be an axial one on this computer while the remote engine serves its own."""
    from engine_fixtures import make_tiny_model

    local = make_tiny_model(tmp_path / "tiny-axial", model_id="tiny-axial")
    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    url, token = f"sdseg://{coronal_engine.host}:{coronal_engine.port}", coronal_engine.token
    assert logic.sliceSelection(volume, str(local), None, 0, 1).letter == "k"  # a local engine: the local card
    job = logic.startJob(volume, model=str(local), device="cpu", remoteUrl=url, remoteToken=token, firstSlice=0, lastSlice=1)
    assert job.wait(120)[-1].kind == "done"
    assert job.options["slices"] == (0, 2) and job.sliceAxis == 1  # counted along j, the remote model's axis


def test_a_remote_card_without_orientation_refuses_a_slice_range():
    from SDSegLib.remote_card import remote_orientation
    from SDSegLogic.errors import InputError

    assert remote_orientation({"orientation": "lsp"}, "sdseg://h:1", True) == "LSP"
    assert remote_orientation({}, "sdseg://h:1", False) is None  # every slice: no axis needed
    with pytest.raises(InputError, match="orientation") as refused:
        remote_orientation({}, "sdseg://h:1", True)
    assert "sdseg://h:1" in str(refused.value) and "Last slice" in str(refused.value)
