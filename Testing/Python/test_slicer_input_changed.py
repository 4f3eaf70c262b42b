"""The input volume changed by another module while its segmentation runs (SDSegLib.input_guard).

Segment copies the input's voxels and the engine segments that copy in the background, so the
volume can change meanwhile (Segment Editor masking, a threshold, a filter writing in place,
another image loaded into the same node, a resample). Checks:

* a changed voxel *grid* (spacing, origin, directions, dimensions, voxels gone) is refused: the
  panel cancels the run at its next poll, ``applyResult`` and the blocking ``process`` raise
  InputError naming the volume, the change and "run Segment again", and nothing is written;
* changed voxel *values* only: the result is written with a warning, shown in the panel's warning
  line, logged and stored on the node (``SDSeg.Warnings``);
* no false alarm: an unchanged volume (NaN voxels included), an RGBA picture whose alpha changed.

3D Slicer cannot be installed here, so the MRML scene, the volume nodes, PythonQt and slicer.util
are the stand-ins of Testing/Slicer/fake_slicer.py (volumes hold real vtkImageData); the .ui
(PySide6, offscreen), Qt's timer, SDSegModuleLogic, the engine process and its tiny random-weight
model are real.
"""

from __future__ import annotations

import html
import logging

import numpy as np
import pytest
from vtk.util import numpy_support

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path
from SDSegLib.engine_runner import SegmentationJob
from SDSegLogic.errors import InputError

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, _idle_panel, _segment, _segmentations, _until, app, engines, sdseg, tiny_model,
)

CT_IJK_TO_RAS = np.array([[-0.9, 0, 0, 5.0], [0, -0.9, 0, -7.0], [0, 0, 3.0, 12.0], [0, 0, 0, 1]])


def _voxels(volume) -> np.ndarray:
    """A writable view of a volume node's voxels (K, J, I[, C]): what a filter writing in place changes."""
    image = volume.GetImageData()
    i, j, k = image.GetDimensions()
    flat = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    return flat.reshape((k, j, i) + (() if flat.ndim == 1 else (flat.shape[1],)))


def _set_ijk_to_ras(volume, matrix) -> None:
    from SDSegLib.volume_adapter import numpy_to_matrix

    volume.SetIJKToRASMatrix(numpy_to_matrix(np.asarray(matrix, dtype=float)))


def _respaced(matrix, spacing) -> np.ndarray:
    m = np.array(matrix, dtype=float)
    m[:3, :3] = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0) * np.asarray(spacing, dtype=float)
    return m


def _edit_while_running(monkeypatch, *edits) -> None:
    """Apply each edit once, after a job copied the voxels and before ``process`` waits for its result.

    That is when another module's change would land while the engine works; ``process`` blocks the
    caller, so the edit is made from the job's ``wait``.
    """
    pending = list(edits)
    real_wait = SegmentationJob.wait

    def wait(self, timeout=None):
        if pending:
            pending.pop(0)()
        return real_wait(self, timeout)

    monkeypatch.setattr(SegmentationJob, "wait", wait)


# ---------------------------------------------------------------------- the checks themselves (real vtkImageData)
def test_grid_change_names_the_volume_what_changed_and_the_remedy():
    """Fake volume nodes (Testing/Slicer/fake_slicer_nodes.py: MRML cannot exist outside Slicer) over real vtkImageData."""
    import fake_slicer_nodes
    from SDSegLib.input_guard import check_input_unchanged, grid_change
    from SDSegLib.volume_adapter import array_and_geometry_from_volume_node, image_data_from_array

    volume = fake_slicer_nodes.FakeVolumeNode("CT", np.zeros((4, 12, 16), np.int16), CT_IJK_TO_RAS)
    image, geometry = array_and_geometry_from_volume_node(volume)
    assert grid_change(volume, geometry) == "" and check_input_unchanged(volume, image, geometry) is None
    _set_ijk_to_ras(volume, CT_IJK_TO_RAS + 1e-4)  # below the 1e-3 mm grid tolerance: the same grid
    assert grid_change(volume, geometry) == ""
    sheared = CT_IJK_TO_RAS.copy()
    sheared[0, 1] = 0.2  # a matrix the engine could not even take (not orthonormal): still named, not an exception
    _set_ijk_to_ras(volume, sheared)
    assert "(spacing 0.9 x 0.9 x 3 -> 0.9 x 0.922 x 3 mm; axis directions (rotated or flipped))" in grid_change(volume, geometry)

    _set_ijk_to_ras(volume, _respaced(CT_IJK_TO_RAS, (1.0, 0.9, 3.0)))  # e.g. Volumes > Volume Information
    reason = grid_change(volume, geometry)
    assert reason.startswith("the input volume 'CT' changed while it was being segmented (spacing 0.9 x 0.9 x 3 -> 1 x 0.9 x 3 mm)")
    assert reason.endswith("run Segment again on the volume as it is now")
    with pytest.raises(InputError, match=r"^nothing was written: the input volume 'CT' changed .*spacing 0\.9 x 0\.9 x 3 -> "
                                         r"1 x 0\.9 x 3 mm.*no longer line up.*run Segment again"):
        check_input_unchanged(volume, image, geometry)

    moved = CT_IJK_TO_RAS.copy()
    moved[:3, 3] = (5.0, -7.0, 42.0)
    _set_ijk_to_ras(volume, moved)
    assert "(origin 5 x -7 x 12 -> 5 x -7 x 42 mm (RAS))" in grid_change(volume, geometry)  # RAS, as Slicer shows it
    _set_ijk_to_ras(volume, CT_IJK_TO_RAS @ np.diag([-1.0, 1.0, 1.0, 1.0]))  # i axis flipped about the origin
    assert "axis directions (rotated or flipped)" in grid_change(volume, geometry)

    _set_ijk_to_ras(volume, CT_IJK_TO_RAS)
    volume.SetAndObserveImageData(image_data_from_array(np.zeros((5, 12, 16), np.int16)))  # another image loaded into it
    assert "(dimensions 16 x 12 x 4 -> 16 x 12 x 5 voxels)" in grid_change(volume, geometry)
    volume.SetAndObserveImageData(None)
    assert "(its voxels are gone: the node holds no image data)" in grid_change(volume, geometry)


def test_changed_voxels_are_counted_once_each_and_nan_or_alpha_are_no_change():
    """Fake volume nodes (Testing/Slicer/fake_slicer_nodes.py: MRML cannot exist outside Slicer) over real vtkImageData."""
    import fake_slicer_nodes
    from SDSegLib.input_guard import changed_voxel_count, check_input_unchanged
    from SDSegLib.volume_adapter import array_and_geometry_from_volume_node, image_data_from_array

    ct = np.random.default_rng(0).normal(0, 1, (3, 6, 5)).astype(np.float32)
    ct[1, 2, 3] = np.nan  # a NaN voxel equals itself: no false alarm
    volume = fake_slicer_nodes.FakeVolumeNode("PET", ct)
    image, geometry = array_and_geometry_from_volume_node(volume)
    assert changed_voxel_count(volume, image) == 0
    _voxels(volume)[0, :2, :] = -1000.0  # 10 voxels masked in place
    warning = check_input_unchanged(volume, image, geometry)
    assert warning.startswith("The input volume 'PET' was modified while it was being segmented (10 of 90 voxels differ)")
    assert "computed from the volume as it was when Segment was clicked" in warning and "Run Segment again" in warning

    rgba = np.random.default_rng(1).integers(0, 256, (1, 6, 5, 4)).astype(np.uint8)
    photo = fake_slicer_nodes.FakeVolumeNode("fundus", rgba)
    image, geometry = array_and_geometry_from_volume_node(photo)  # alpha dropped: (1, 6, 5, 3)
    _voxels(photo)[..., 3] = 0  # the alpha channel is not segmented
    assert check_input_unchanged(photo, image, geometry) is None
    _voxels(photo)[0, 0, 0, :3] = (1, 2, 3)  # one voxel, three channels: one voxel changed
    _voxels(photo)[0, 1, 1, 2] ^= 0xFF
    assert changed_voxel_count(photo, image) == 2 - int(tuple(rgba[0, 0, 0, :3]) == (1, 2, 3))
    photo.SetAndObserveImageData(image_data_from_array(np.zeros((1, 6, 5), np.uint8)))  # grey now: every voxel changed
    assert changed_voxel_count(photo, image) == 30


# ---------------------------------------------------------------------- the logic: process() and startJob/applyResult
def test_process_refuses_a_result_whose_input_grid_changed_during_the_run(monkeypatch, manager, model_folder):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer); the engine and the model are real."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    scene = fake.mrmlScene
    ct = np.random.default_rng(3).normal(0, 120, (4, 12, 16)).astype(np.int16)
    volume = scene.AddNode(fake_slicer.FakeVolumeNode("CT", ct, CT_IJK_TO_RAS))
    probability = scene.AddNode(fake_slicer.FakeVolumeNode("P"))
    _edit_while_running(monkeypatch, lambda: _set_ijk_to_ras(volume, _respaced(CT_IJK_TO_RAS, (0.9, 0.9, 1.5))))
    with pytest.raises(InputError, match=r"nothing was written: the input volume 'CT' changed while it was being segmented "
                                         r"\(spacing 0\.9 x 0\.9 x 3 -> 0\.9 x 0\.9 x 1\.5 mm\).*run Segment again"):
        logic.process(volume, model=str(model_folder), device="cpu", probabilityVolume=probability)
    assert not scene.GetNodesByClass("vtkMRMLSegmentationNode") and probability.GetImageData() is None  # nothing written

    segmentation = logic.process(volume, model=str(model_folder), device="cpu")  # Segment again: the volume as it is now
    assert not segmentation.GetAttribute("SDSeg.Warnings")  # unchanged during this run: no warning

    job = logic.startJob(volume, model=str(model_folder), device="cpu")  # the panel's path: changed after the engine's answer
    assert job.wait(120)[-1].kind == "done"
    volume.SetAndObserveImageData(fake_slicer.FakeVolumeNode("x", np.zeros((4, 12, 20), np.int16)).GetImageData())
    with pytest.raises(InputError, match=r"'CT' changed .*\(dimensions 16 x 12 x 4 -> 20 x 12 x 4 voxels\)"):
        logic.applyResult(job, volume, segmentation)
    assert len(scene.GetNodesByClass("vtkMRMLSegmentationNode")) == 1 and not segmentation.GetAttribute("SDSeg.Warnings")


def test_process_writes_with_a_warning_when_only_the_voxel_values_changed(monkeypatch, manager, model_folder, caplog):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer); the engine and the model are real."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    ct = np.random.default_rng(4).normal(0, 120, (4, 12, 16)).astype(np.float32)
    ct[2, 5, 7] = np.nan  # filled by the engine (nanPolicy "fill"); not a change of the volume
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", ct, CT_IJK_TO_RAS))

    def threshold():  # Volumes' threshold / a masking filter writing in place, no Modified() event
        _voxels(volume)[_voxels(volume) < 0] = -1000.0

    _edit_while_running(monkeypatch, threshold)
    with caplog.at_level(logging.WARNING):
        segmentation = logic.process(volume, model=str(model_folder), device="cpu", nanPolicy="fill")
    expected = int(np.count_nonzero(ct < 0))
    warning = f"The input volume 'CT' was modified while it was being segmented ({expected} of 768 voxels differ)"
    stored = segmentation.GetAttribute("SDSeg.Warnings")
    assert warning in stored and "as it was when Segment was clicked" in stored
    assert warning in segmentation.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Warnings")
    assert any(warning in record.getMessage() for record in caplog.records)
    again = logic.process(volume, segmentation, model=str(model_folder), device="cpu", nanPolicy="fill")
    assert again is segmentation and "was modified" not in segmentation.GetAttribute("SDSeg.Warnings")


# ---------------------------------------------------------------------- the panel
def test_widget_cancels_a_run_whose_input_was_respaced_and_writes_nothing(app, sdseg):
    fake, widget = sdseg
    volume = _add_volume(fake, "CT")
    job = _segment(widget, volume)
    _set_ijk_to_ras(volume, _respaced(volume.ijk_to_ras, (0.9, 0.9, 1.5)))  # another module edits the spacing meanwhile
    assert _until(app, lambda: _idle_panel(widget), timeout=30)
    assert not _segmentations(fake) and not fake.errors  # nothing written (it would be misaligned)
    assert job.wait(30)[-1].kind in ("done", "cancelled")  # the engine's answer, never read: the run was cancelled
    log = widget.ui.statusLog.toPlainText()
    assert "cancelled and nothing is written: the input volume 'CT' changed while it was being segmented " \
           "(spacing 0.9 x 0.9 x 3 -> 0.9 x 0.9 x 1.5 mm)" in log and "run Segment again" in log
    assert widget.ui.etaLabel.text.startswith("Cancelled: the input volume 'CT' changed")
    assert widget.ui.progressBar.value == 0
    job = _segment(widget, volume)  # Segment again: the volume as it is now
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert [n.GetName() for n in _segmentations(fake)] == ["CT SDSeg"] and not fake.errors


def test_widget_writes_with_a_visible_warning_when_the_input_voxels_changed(app, sdseg):
    fake, widget = sdseg
    volume = _add_volume(fake, "CT")
    job = _segment(widget, volume)
    _voxels(volume)[:, :, :8] = -1024  # e.g. Segment Editor's Mask volume, during the run
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    (node,) = _segmentations(fake)
    label = widget.ui.warningLabel
    assert not label.qobject.isHidden() and "was modified while it was being segmented" in label.toolTip
    assert "'CT' was modified" in html.unescape(label.text) and "as it was when Segment was clicked" in node.GetAttribute("SDSeg.Warnings")
    assert "Warning: The input volume 'CT' was modified while it was being segmented" in widget.ui.statusLog.toPlainText()
    assert job.result_warnings and widget.ui.progressBar.value == 100 and not fake.errors
    job = _segment(widget, volume)  # unchanged this time: no warning
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert label.qobject.isHidden() and "was modified" not in (_segmentations(fake)[1].GetAttribute("SDSeg.Warnings") or "")
