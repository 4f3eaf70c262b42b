"""The Slicer module's logic pieces outside Slicer.

* ``SegmentationJob`` / ``EngineManager`` (SDSegLib.engine_runner) with a real engine process and
  a real tiny model: the non-blocking path the widget polls from a QTimer, cancel, engine restart
  after a crash, remote URL + token;
* ``write_segmentation`` (SDSegLib.segmentation_writer) against ``Testing/Slicer/fake_slicer.py``,
  a minimal stand-in for the ``slicer`` module: unavoidable, because MRML cannot be installed
  without Slicer. The tests check names, colours, terminology, tags, masks, reference geometry,
  transform and subject-hierarchy placement, one node per run, slice-range updates of a chosen
  node, refusal of another volume's segmentation, and the stored quality warnings;
* ``SDSegModuleLogic`` against the same stand-in, with the real engine: it reads the input's
  modality and sends it, ``strict`` refuses a mismatch, and a slice-range run updates only its
  slices of the probability and uncertainty volumes;
* the pure helpers: terminology strings and the engine description line.

Model management, engine log, diagnostics, model summary, time estimate and dependency checks are
in test_slicer_models.py; shared fixtures in slicer_logic_helpers.py.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from slicer_logic_helpers import REPO, manager, model_folder  # noqa: F401 - manager, model_folder are pytest fixtures; it puts SDSegLib on sys.path
from engine_fixtures import TINY_CLASSES
from SDSegLib.engine_runner import EngineManager, SegmentationJob, describe_engine
from SDSegLib.segmentation_writer import segment_specs, terminology_entry
from SDSegLogic.errors import SDSegError
from SDSegLogic.geometry import ImageGeometry


def _volume(k=4, j=12, i=16):
    array = np.random.default_rng(1).normal(0, 120, (k, j, i)).astype(np.int16)
    return array, ImageGeometry((0.9, 0.9, 3.0), (5.0, -7.0, 12.0), np.diag([1.0, 1.0, -1.0]), (i, j, k))


def _run(job: SegmentationJob, timeout: float = 120.0):
    """Poll like the widget's QTimer does, until the job ends."""
    events, deadline = [], time.monotonic() + timeout
    while not job.finished and time.monotonic() < deadline:
        events += job.poll()
        time.sleep(0.05)
    return events


# ---------------------------------------------------------------------- non-blocking jobs
def test_job_runs_in_background_and_reports_info_progress_result(manager, model_folder):
    array, geometry = _volume()
    job = SegmentationJob(manager, array, geometry, str(model_folder), "cpu", batch_size=2, want_probabilities=True)
    started = time.monotonic()
    job.start()
    assert time.monotonic() - started < 0.5  # start() returns at once, even while the engine boots
    events = _run(job)
    kinds = [e.kind for e in events]
    assert kinds[0] == "info" and kinds[-1] == "done" and "progress" in kinds
    assert "CPU" in events[0].text and events[0].data["model_card"]["model_id"] == "tiny-two"
    out = events[-1].output
    assert out.labels.shape == array.shape and set(np.unique(out.labels)) <= {0, 1, 2}
    assert out.probabilities.shape == (3, *array.shape)  # background + 2 classes
    assert any("Engine ready" in line for line in manager.logs)


def test_job_cancel_reports_cancelled_and_the_engine_stays_warm(manager, model_folder):
    array, geometry = _volume(k=300, j=32, i=32)
    warm = manager.client(str(model_folder), "cpu")
    pid_before = warm.process.pid
    warm.close()
    job = SegmentationJob(manager, array, geometry, str(model_folder), "cpu", batch_size=1).start()
    deadline = time.monotonic() + 60
    events = []
    while not any(e.kind == "progress" for e in events) and time.monotonic() < deadline:
        events += job.poll()
        time.sleep(0.02)
    job.cancel()
    events += _run(job, 10)
    assert events[-1].kind == "cancelled" and job.output is None
    assert manager.process.pid == pid_before and manager.process.alive()


def test_dead_engine_is_restarted_on_next_job(manager, model_folder):
    array, geometry = _volume(k=1)
    _run(SegmentationJob(manager, array, geometry, str(model_folder), "cpu").start())
    first = manager.process
    first.popen.kill()
    first.popen.wait()
    events = _run(SegmentationJob(manager, array, geometry, str(model_folder), "cpu").start())
    assert events[-1].kind == "done"
    assert manager.process.pid != first.pid
    assert any("exited" in line for line in manager.logs)


def test_remote_engine_by_url_and_token(manager, model_folder):
    manager.client(str(model_folder), "cpu").close()
    local = manager.process
    remote = EngineManager(log=lambda text: None)
    array, geometry = _volume(k=1)
    url = f"sdseg://127.0.0.1:{local.port}"
    events = _run(SegmentationJob(remote, array, geometry, "ignored-for-remote", remote_url=url, remote_token=local.token).start())
    assert events[-1].kind == "done" and remote.process is None  # nothing started locally
    events = _run(SegmentationJob(remote, array, geometry, "x", remote_url=url, remote_token="wrong" * 8).start())
    assert events[-1].kind == "error" and events[-1].data["code"] == "bad_token"


def test_gpu_kernels_policy_reaches_the_engine_and_a_change_restarts_it(manager, model_folder):
    with pytest.raises(SDSegError, match="GPU kernels setting 'fast' is unknown"):
        manager.client(str(model_folder), "cpu", gpu_kernels="fast")
    manager.client(str(model_folder), "cpu", gpu_kernels="off").close()
    eager = manager.process
    assert list(eager.popen.args[-2:]) == ["--compile", "off"]
    manager.client(str(model_folder), "cpu", gpu_kernels="off").close()
    assert manager.process is eager  # same policy: the warm engine is reused
    array, geometry = _volume(k=1)
    events = _run(SegmentationJob(manager, array, geometry, str(model_folder), "cpu", gpu_kernels="auto").start())
    assert events[-1].kind == "done"
    assert manager.process.pid != eager.pid and list(manager.process.popen.args[-2:]) == ["--compile", "auto"]
    assert not eager.alive()


def test_cancel_while_the_engine_starts_stops_it_and_leaves_nothing(model_folder):
    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1"))
    array, geometry = _volume(k=1)
    private_dirs = set(Path(tempfile.gettempdir()).glob("sdseg-engine-*"))
    job = SegmentationJob(engines, array, geometry, str(model_folder), "cpu")
    job.cancel()  # asked before the engine is ready: the start itself is abandoned
    events = _run(job.start(), 60)
    assert [e.kind for e in events] == ["cancelled"] and job.output is None
    assert engines.process is None
    assert any("Starting the SDSeg engine" in line for line in logs)
    assert set(Path(tempfile.gettempdir()).glob("sdseg-engine-*")) <= private_dirs  # token and log removed


def test_job_done_event_carries_the_engine_warnings(manager, model_folder):
    array, _ = _volume(k=2)
    c, s = np.cos(0.3), np.sin(0.3)  # 17 degrees oblique: the engine warns
    geometry = ImageGeometry((0.9, 0.9, 3.0), (5.0, -7.0, 12.0), np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]), (16, 12, 2))
    done = _run(SegmentationJob(manager, array, geometry, str(model_folder), "cpu").start())[-1]
    assert done.kind == "done" and any("oblique" in w for w in done.data["warnings"])
    assert done.output.warnings == tuple(done.data["warnings"]) and "warning(s)" in done.text


def test_describe_engine_gpu_line():
    info = {"device": "cuda:0", "dtype": "float16", "devices": {"cuda": [{"name": "NVIDIA H100", "free_gib": 70.1, "total_gib": 79.2}]}}
    assert describe_engine(info) == "GPU: NVIDIA H100 (70.1 of 79.2 GiB free), float16"
    faithful = dict(info, unet_dtype="float32", compiled=True)
    assert describe_engine(faithful) == "GPU: NVIDIA H100 (70.1 of 79.2 GiB free), float16 (UNet float32), compiled kernels"


# ---------------------------------------------------------------------- writing the segmentation node
CARD = {"model_id": "tiny-two", "version": "0.0.1",
        "classes": [{"name": n, "label_value": v, "color": list(c), "terminology": {k: list(t) for k, t in term.items()}}
                    for n, v, c, term in TINY_CLASSES]}


def _volume_node(fake, name="CT", shape=(3, 4, 5), ijk_to_ras=None):
    import fake_slicer

    node = fake_slicer.FakeVolumeNode(name, np.zeros(shape, np.int16), ijk_to_ras)
    return fake.mrmlScene.AddNode(node)


def test_write_segmentation_one_segment_per_class(monkeypatch):
    """Against Testing/Slicer/fake_slicer.py: MRML cannot be installed without 3D Slicer."""
    import fake_slicer
    from SDSegLib.segmentation_writer import write_segmentation

    fake = fake_slicer.install(monkeypatch)
    volume = _volume_node(fake)
    volume.transform_id = "vtkMRMLLinearTransformNode1"
    fake.mrmlScene.subject_hierarchy.parents[id(volume)] = 77  # the input sits in study item 77
    labels = np.zeros((3, 4, 5), np.uint8)
    labels[0, 0, 4] = 1  # asymmetric markers
    labels[2, 3, 0] = 2
    node = write_segmentation(labels, CARD, volume, tags={"Seed": 3, "Steps": 1})
    role = fake.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
    assert node.GetName() == "CT SDSeg" and node.GetNodeReference(role) is volume and node.modify_depth == 0
    assert node.transform_id == "vtkMRMLLinearTransformNode1" and fake.mrmlScene.subject_hierarchy.parents[id(node)] == 77
    segments = list(node.segmentation.segments.values())
    assert [s.name for s in segments] == ["liver", "spleen"]
    assert segments[0].color == TINY_CLASSES[0][2]
    assert segments[0].tags["TerminologyEntry"].split("~")[2] == "SCT^10200004^Liver"
    assert segments[1].tags["SDSeg.ModelId"] == "tiny-two" and segments[1].tags["SDSeg.Seed"] == "3"
    masks = list(node.masks.values())
    assert masks[0].shape == (3, 4, 5) and masks[0][0, 0, 4] == 1 and masks[0].sum() == 1
    assert masks[1][2, 3, 0] == 1 and masks[1].sum() == 1
    # writing again into the same node replaces SDSeg's segments instead of duplicating them
    write_segmentation(np.zeros_like(labels), CARD, volume, node)
    assert len(node.segmentation.segments) == 2 and all(m.sum() == 0 for m in node.masks.values())
    with pytest.raises(Exception, match="does not match"):
        write_segmentation(labels[:2], CARD, volume)


def test_each_run_gets_its_own_node_named_after_its_volume(monkeypatch):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer): 'Create new' never reuses a node."""
    import fake_slicer
    from SDSegLib.segmentation_writer import write_segmentation

    fake = fake_slicer.install(monkeypatch)
    ct, mr = _volume_node(fake, "CT"), _volume_node(fake, "MR", shape=(2, 4, 5))
    labels = np.ones((3, 4, 5), np.uint8)
    first = write_segmentation(labels, CARD, ct)
    second = write_segmentation(np.zeros((2, 4, 5), np.uint8), CARD, mr)
    third = write_segmentation(np.zeros_like(labels), CARD, ct)
    assert [n.GetName() for n in (first, second, third)] == ["CT SDSeg", "MR SDSeg", "CT SDSeg_1"]
    assert first.masks["sdseg_1_liver"].all()  # the first result is untouched


@pytest.mark.parametrize("axis", [2, 1, 0])
def test_slice_range_run_into_a_chosen_node_keeps_the_other_slices(monkeypatch, axis):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer): manual corrections outside the range survive."""
    import fake_slicer
    from SDSegLib.segmentation_writer import write_segmentation

    fake = fake_slicer.install(monkeypatch)
    volume = _volume_node(fake, shape=(6, 6, 6))
    node = write_segmentation(np.ones((6, 6, 6), np.uint8), CARD, volume)  # liver everywhere ("corrected" by hand)
    labels = np.zeros((6, 6, 6), np.uint8)  # the new run found nothing in slices 2..3 across ``axis``
    write_segmentation(labels, CARD, volume, node, region=(axis, 2, 4))
    liver = node.masks["sdseg_1_liver"]
    inside = [slice(None)] * 3
    inside[2 - axis] = slice(2, 4)
    assert not liver[tuple(inside)].any() and liver.sum() == 6 ** 3 - 2 * 36  # only the range was replaced
    assert node.segmentation.GetSegment("sdseg_1_liver").tags["SDSeg.ModelId"] == "tiny-two"


def test_a_segmentation_of_another_volume_is_refused_and_left_alone(monkeypatch):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer): its reference geometry decides."""
    import fake_slicer
    from SDSegLib.segmentation_writer import write_segmentation

    fake = fake_slicer.install(monkeypatch)
    ct = _volume_node(fake, "CT")
    shifted = np.eye(4)
    shifted[:3, 3] = (0, 0, 40.0)
    other = _volume_node(fake, "other CT", ijk_to_ras=shifted)  # same size, another place
    node = write_segmentation(np.ones((3, 4, 5), np.uint8), CARD, ct)
    before = {k: v.copy() for k, v in node.masks.items()}
    role = fake.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
    with pytest.raises(Exception, match="belongs to volume 'CT' with a different voxel grid.*Create new segmentation"):
        write_segmentation(np.zeros((3, 4, 5), np.uint8), CARD, other, node)
    assert node.GetNodeReference(role) is ct and node.GetName() == "CT SDSeg"
    assert all(np.array_equal(node.masks[k], v) for k, v in before.items())
    fake.mrmlScene.RemoveNode(ct)  # reference volume gone: the saved reference geometry still decides
    with pytest.raises(Exception, match="belongs to another volume"):
        write_segmentation(np.zeros((3, 4, 5), np.uint8), CARD, other, node)
    clone = _volume_node(fake, "CT copy")  # same grid as CT: accepted
    write_segmentation(np.zeros((3, 4, 5), np.uint8), CARD, clone, node)
    assert node.GetNodeReference(role) is clone


def test_warnings_are_stored_on_the_node_and_its_segments(monkeypatch):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer): attribute and tags, cleared by a clean run."""
    import fake_slicer
    from SDSegLib.segmentation_writer import write_segmentation

    fake = fake_slicer.install(monkeypatch)
    volume = _volume_node(fake)
    warnings = ("image: the grid is oblique by 17.2 degrees", "image: in-plane spacing | is anisotropic")
    node = write_segmentation(np.zeros((3, 4, 5), np.uint8), CARD, volume, warnings=warnings)
    assert node.GetAttribute("SDSeg.Warnings") == "\n".join(warnings)
    tag = node.segmentation.GetNthSegment(1).GetTag("SDSeg.Warnings")
    assert "oblique by 17.2" in tag and "|" not in tag and "\n" not in tag  # safe in a .seg.nrrd header
    write_segmentation(np.zeros((3, 4, 5), np.uint8), CARD, volume, node)
    assert node.GetAttribute("SDSeg.Warnings") is None and node.segmentation.GetNthSegment(0).GetTag("SDSeg.Warnings") == ""


def test_terminology_entry_format():
    entry = terminology_entry({"category": ("SCT", "123037004", "Anatomical Structure"), "type": ("SCT", "10200004", "Liver")})
    parts = entry.split("~")
    assert len(parts) == 7 and parts[1] == "SCT^123037004^Anatomical Structure" and parts[3] == "^^" and parts[4] == ""
    assert terminology_entry({}) == ""
    specs = segment_specs({"classes": [{"name": "optic cup", "label_value": 2}]})
    assert specs[0].segment_id == "sdseg_2_optic_cup" and specs[0].terminology == ""



# ---------------------------------------------------------------------- the scripting API
def test_process_takes_a_slice_range_along_the_model_s_axis(monkeypatch, manager, model_folder):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer); the engine and model are real."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    sagittal = np.eye(4)
    sagittal[:3, :3] = np.array([[0, 0, -1.0], [1, 0, 0], [0, -1.0, 0]]) * 0.9  # stored as sagittal slices
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("sag", np.zeros((6, 8, 5), np.int16), sagittal))
    node = logic.process(volume, model=str(model_folder), device="cpu", firstSlice=3, lastSlice=5)
    assert node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Slices") == "j 3..5"  # axial slices: the j axis
    node = logic.process(volume, node, model=str(model_folder), device="cpu", firstSlice=6, lastSlice=7)  # past k's 6
    assert node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Slices") == "j 6..7"
    with pytest.raises(SDSegError, match="j axis, which has 8 slices"):
        logic.process(volume, model=str(model_folder), device="cpu", firstSlice=8)


def test_start_job_reads_the_input_modality_and_sends_it(monkeypatch, manager, model_folder):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer); the engine and the CT model are real."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    scene, sh = fake.mrmlScene, fake.mrmlScene.subject_hierarchy
    rgb = np.random.default_rng(2).integers(0, 256, (1, 12, 16, 3)).astype(np.uint8)
    photo = scene.AddNode(fake.vtkMRMLVectorVolumeNode("fundus", rgb))  # a PNG/JPEG picture: no DICOM modality
    mr = scene.AddNode(fake_slicer.FakeVolumeNode("MR", np.zeros((2, 12, 16), np.int16)))
    sh.SetItemAttribute(sh.GetItemByDataNode(mr), "DICOM.Modality", "MR")  # what Slicer's DICOM import stores
    plain = scene.AddNode(fake_slicer.FakeVolumeNode("plain", np.zeros((2, 12, 16), np.int16)))  # e.g. from NRRD
    dicom_rgb = scene.AddNode(fake.vtkMRMLVectorVolumeNode("XC", rgb))
    sh.SetItemAttribute(sh.GetItemByDataNode(dicom_rgb), "DICOM.Modality", "XC")
    assert [logic.inputModality(v) for v in (photo, mr, plain, dicom_rgb)] == ["photo", "MR", "", "XC"]
    outputs = {}
    for volume in (photo, mr, plain):
        job = logic.startJob(volume, model=str(model_folder), device="cpu")
        assert job.wait(120)[-1].kind == "done"
        outputs[volume.GetName()] = job.output
    assert outputs["fundus"].header["options"]["modality"] == "photo"
    assert any("trained on CT images but the input is a 2-D picture" in w for w in outputs["fundus"].warnings)
    assert any("trained on CT images but the input is a MR image" in w for w in outputs["MR"].warnings)
    assert outputs["plain"].header["options"]["modality"] == ""
    assert not any("trained on" in w for w in outputs["plain"].warnings)


def test_strict_refuses_a_photo_for_a_ct_model_in_process_and_start_job(monkeypatch, manager, model_folder):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer); the engine and the CT model are real."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    grey = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("grey photo", np.zeros((1, 12, 16), np.uint8)))
    sh = fake.mrmlScene.subject_hierarchy
    sh.SetItemAttribute(sh.GetItemByDataNode(grey), "DICOM.Modality", "photo")  # grey channels, photo modality
    with pytest.raises(SDSegError, match="trained on CT images but the input is a 2-D picture.*refused because strict") as caught:
        logic.process(grey, model=str(model_folder), device="cpu", strict=True)
    assert caught.value.code == "input_error" and not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
    job = logic.startJob(grey, model=str(model_folder), device="cpu")  # strict off (default): segmented, warned
    assert job.wait(120)[-1].kind == "done" and any("2-D picture" in w for w in job.output.warnings)


def test_slice_range_run_updates_only_its_slices_of_probability_and_uncertainty(monkeypatch, manager, model_folder):
    """Against Testing/Slicer/fake_slicer.py (no MRML outside Slicer): maps of the same grid keep the other slices."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLib.volume_adapter import array_from_image_data

    logic = SDSegModuleLogic(engineManager=manager)
    scene = fake.mrmlScene
    ijk_to_ras = np.diag([-0.9, -0.9, 3.0, 1.0])
    volume = scene.AddNode(fake_slicer.FakeVolumeNode("CT", np.random.default_rng(3).normal(0, 120, (5, 12, 16)).astype(np.int16),
                                                      ijk_to_ras))
    probability, uncertainty = scene.AddNode(fake_slicer.FakeVolumeNode("P")), scene.AddNode(fake_slicer.FakeVolumeNode("U"))

    def run(seed, **slices):
        logic.process(volume, model=str(model_folder), device="cpu", samples=2, seed=seed, probabilityVolume=probability,
                      uncertaintyVolume=uncertainty, **slices)
        return [array_from_image_data(node.GetImageData()) for node in (probability, uncertainty)]

    whole = run(1)
    assert all(a.shape == (5, 12, 16) and a.dtype == np.float32 and a.any() for a in whole)
    part = run(2, firstSlice=1, lastSlice=2)  # only k 1..2 were segmented
    fresh = run(2)  # what seed 2 gives on every slice
    for before, after, reference in zip(whole, part, fresh):
        np.testing.assert_array_equal(after[[0, 3, 4]], before[[0, 3, 4]])  # the other slices are kept
        np.testing.assert_array_equal(after[1:3], reference[1:3])
    shifted = ijk_to_ras.copy()
    shifted[:3, 3] = (0.0, 0.0, 30.0)  # same size, another place
    other = scene.AddNode(fake_slicer.FakeVolumeNode("P other", np.full((5, 12, 16), 0.5, np.float32), shifted))
    logic.process(volume, model=str(model_folder), device="cpu", probabilityVolume=other, firstSlice=1, lastSlice=2)
    replaced = array_from_image_data(other.GetImageData())  # another grid: replaced, nothing outside the slices
    assert not replaced[[0, 3, 4]].any() and replaced[1:3].any()
    np.testing.assert_allclose(other.ijk_to_ras, ijk_to_ras)
    job = logic.startJob(volume, model=str(model_folder), device="cpu", samples=2, seed=5, wantVariance=True)
    assert job.wait(120)[-1].kind == "done"
    logic.applyResult(job, volume, None, None, uncertainty)  # multi-class: summed over classes, as the CLI writes it
    assert job.output.variance.ndim == 4
    np.testing.assert_allclose(array_from_image_data(uncertainty.GetImageData()), job.output.variance.sum(axis=0),
                               rtol=1e-6)
