"""All time points of a colour video (an endoscopy or fundus cine: RGB vector volumes) from the Slicer module.

Each frame of such a series is a ``vtkMRMLVectorVolumeNode`` (one slice, 3 components), and the
sequence writer creates its temporary per-frame volume by the frame's class name; the fake scene
could only create scalar volumes by name, so this path was not exercised outside Slicer. Checks
that every frame is segmented as the single-volume path segments it (a 2-D photo: one slice,
the 'photo' modality sent, the engine's warnings kept per frame) and that nothing temporary is
left. No defect was found here; this covers the photo inputs of the all-time-points path.

Against ``Testing/Slicer/fake_slicer.py`` with the real engine and the tiny (CT, 1-channel) model.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path

pytest.importorskip("PySide6.QtWidgets")
from test_slicer_sequence import _assert_same_segmentation, _logic  # noqa: E402


def test_every_frame_of_a_colour_video_is_segmented_as_a_single_photo_is(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    scene, frames, flip = fake.mrmlScene, [], np.diag([-1.0, -1.0, 1.0, 1.0])  # a picture loaded by Slicer: LPS flipped
    video = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "endoscopy")
    for number in range(3):
        rgb = np.random.default_rng(number).integers(0, 256, (1, 24, 32, 3)).astype(np.uint8)
        frames.append(rgb)
        video.SetDataNodeAtValue(fake.vtkMRMLVectorVolumeNode(f"frame {number}", rgb, flip), str(number))
    proxy = scene.AddNode(fake.vtkMRMLVectorVolumeNode("endoscopy"))
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", "endoscopy browser")
    browser.SetAndObserveMasterSequenceNodeID(video.GetID())
    browser.AddProxyNode(proxy, video, False)
    browser.SetSelectedItemNumber(0)
    assert logic.inputModality(proxy) == "photo"
    segmentation = logic.process(proxy, model=str(model_folder), device="cpu", allTimePoints=True)
    sequence = browser.GetSequenceNode(segmentation)
    assert sequence.GetNumberOfDataNodes() == 3 and not any(n.hide_from_editors for n in scene.nodes.values())
    for number, rgb in enumerate(frames):
        item = sequence.GetNthDataNode(number)
        photo = scene.AddNode(fake.vtkMRMLVectorVolumeNode(f"photo {number}", rgb, flip))
        single = logic.process(photo, model=str(model_folder), device="cpu")
        _assert_same_segmentation(item, single)
        assert all(mask.shape == (1, 24, 32) for mask in item.masks.values())
        assert "2-D picture" in item.GetAttribute("SDSeg.Warnings")  # a photo given to a CT model, said per frame
