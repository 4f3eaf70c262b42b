"""The Slicer module's logic pieces outside Slicer.

* ``SegmentationJob`` / ``EngineManager`` (SDSegLib.engine_runner) with a real engine process and
  a real tiny model: the non-blocking path the widget polls from a QTimer, cancel, engine restart
  after a crash, remote URL + token;
* ``write_segmentation`` (SDSegLib.segmentation_writer) against ``FakeSlicer``, a minimal
  stand-in for the ``slicer`` module: unavoidable, because MRML cannot be installed without
  Slicer. It records what the writer asks of the scene, and the test checks names, colours,
  terminology, tags, masks, reference geometry, transform and subject-hierarchy placement;
* the pure helpers: terminology strings, requirement checks, model summary.
"""

from __future__ import annotations

import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "SDSegExtension"))

from engine_fixtures import TINY_CLASSES, make_tiny_model  # noqa: E402
from SDSegLib.engine_runner import EngineManager, SegmentationJob, describe_engine  # noqa: E402
from SDSegLib.install import DependencyInstaller, InstallDeclined, missing_requirements, parse_requirement  # noqa: E402
from SDSegLib.segmentation_writer import segment_specs, terminology_entry  # noqa: E402
from SDSegLogic.errors import SDSegError  # noqa: E402
from SDSegLogic.geometry import ImageGeometry  # noqa: E402


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-two", classes=TINY_CLASSES, model_id="tiny-two")


@pytest.fixture(scope="module")
def manager():
    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1"))
    engines.logs = logs
    yield engines
    engines.stop()


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


def test_describe_engine_gpu_line():
    info = {"device": "cuda:0", "dtype": "float16", "devices": {"cuda": [{"name": "NVIDIA H100", "free_gib": 70.1, "total_gib": 79.2}]}}
    assert describe_engine(info) == "GPU: NVIDIA H100 (70.1 of 79.2 GiB free), float16"
    faithful = dict(info, unet_dtype="float32", compiled=True)
    assert describe_engine(faithful) == "GPU: NVIDIA H100 (70.1 of 79.2 GiB free), float16 (UNet float32), compiled kernels"


# ---------------------------------------------------------------------- writing the segmentation node
class _Segment:
    def __init__(self, name, color):
        self.name, self.color, self.tags = name, color, {}

    def SetTag(self, key, value):
        self.tags[key] = value

    @staticmethod
    def GetTerminologyEntryTagName():
        return "TerminologyEntry"


class _Segmentation:
    def __init__(self):
        self.segments = {}

    def AddEmptySegment(self, segment_id, name, color):
        self.segments[segment_id] = _Segment(name, tuple(color))
        return segment_id

    def GetSegment(self, segment_id):
        return self.segments.get(segment_id)

    def RemoveSegment(self, segment_id):
        del self.segments[segment_id]


class _Node:
    def __init__(self, name, transform_id=None, image=None):
        self.name, self.transform_id, self.image, self.reference = name, transform_id, image, None
        self.segmentation, self.masks, self.modify_depth = _Segmentation(), {}, 0

    def GetName(self):
        return self.name

    def GetImageData(self):
        return self.image

    def GetTransformNodeID(self):
        return self.transform_id

    def SetAndObserveTransformNodeID(self, transform_id):
        self.transform_id = transform_id

    def CreateDefaultDisplayNodes(self):
        pass

    def SetReferenceImageGeometryParameterFromVolumeNode(self, volume):
        self.reference = volume

    def GetSegmentation(self):
        return self.segmentation

    def StartModify(self):
        self.modify_depth += 1
        return 0

    def EndModify(self, _):
        self.modify_depth -= 1


class FakeSlicer(types.ModuleType):
    """Minimal stand-in for the ``slicer`` module (scene, util, subject hierarchy); records calls."""

    def __init__(self):
        super().__init__("slicer")
        self.nodes, self.parents = [], {}
        fake = self

        class Scene:
            def AddNewNodeByClass(self, class_name, name):
                assert class_name == "vtkMRMLSegmentationNode"
                node = _Node(name)
                fake.nodes.append(node)
                return node

            def GetSubjectHierarchyNode(self):
                return fake

        self.mrmlScene = Scene()
        self.util = types.SimpleNamespace(updateSegmentBinaryLabelmapFromArray=self._update)

    def _update(self, mask, node, segment_id, reference):
        assert reference is self.input_volume and mask.dtype == np.uint8
        node.masks[segment_id] = mask.copy()

    # subject hierarchy
    def GetItemByDataNode(self, node):
        return id(node)

    def GetItemParent(self, item):
        return self.parents.get(item, 1)

    def SetItemParent(self, item, parent):
        self.parents[item] = parent


def test_write_segmentation_one_segment_per_class(monkeypatch):
    vtk = pytest.importorskip("vtk")
    from SDSegLib.segmentation_writer import write_segmentation

    fake = FakeSlicer()
    monkeypatch.setitem(sys.modules, "slicer", fake)
    image = vtk.vtkImageData()
    image.SetDimensions(5, 4, 3)
    volume = _Node("CT", transform_id="vtkMRMLLinearTransformNode1", image=image)
    fake.input_volume = volume
    fake.parents[id(volume)] = 77  # the input sits in study item 77
    labels = np.zeros((3, 4, 5), np.uint8)
    labels[0, 0, 4] = 1  # asymmetric markers
    labels[2, 3, 0] = 2
    card = {"model_id": "tiny-two", "version": "0.0.1",
            "classes": [{"name": n, "label_value": v, "color": list(c), "terminology": {k: list(t) for k, t in term.items()}}
                        for n, v, c, term in TINY_CLASSES]}
    node = write_segmentation(labels, card, volume, tags={"Seed": 3, "Steps": 1})
    assert node.name == "CT SDSeg" and node.reference is volume and node.modify_depth == 0
    assert node.transform_id == "vtkMRMLLinearTransformNode1" and fake.parents[id(node)] == 77
    segments = list(node.segmentation.segments.values())
    assert [s.name for s in segments] == ["liver", "spleen"]
    assert segments[0].color == TINY_CLASSES[0][2]
    assert segments[0].tags["TerminologyEntry"].split("~")[2] == "SCT^10200004^Liver"
    assert segments[1].tags["SDSeg.ModelId"] == "tiny-two" and segments[1].tags["SDSeg.Seed"] == "3"
    masks = list(node.masks.values())
    assert masks[0].shape == (3, 4, 5) and masks[0][0, 0, 4] == 1 and masks[0].sum() == 1
    assert masks[1][2, 3, 0] == 1 and masks[1].sum() == 1
    # writing again into the same node replaces SDSeg's segments instead of duplicating them
    write_segmentation(np.zeros_like(labels), card, volume, node)
    assert len(node.segmentation.segments) == 2 and all(m.sum() == 0 for m in node.masks.values())
    with pytest.raises(Exception, match="does not match"):
        write_segmentation(labels[:2], card, volume)


def test_terminology_entry_format():
    entry = terminology_entry({"category": ("SCT", "123037004", "Anatomical Structure"), "type": ("SCT", "10200004", "Liver")})
    parts = entry.split("~")
    assert len(parts) == 7 and parts[1] == "SCT^123037004^Anatomical Structure" and parts[3] == "^^" and parts[4] == ""
    assert terminology_entry({}) == ""
    specs = segment_specs({"classes": [{"name": "optic cup", "label_value": 2}]})
    assert specs[0].segment_id == "sdseg_2_optic_cup" and specs[0].terminology == ""


# ---------------------------------------------------------------------- dependency checks
def test_requirement_parsing_and_missing_detection(tmp_path):
    assert parse_requirement("diffusers>=0.30") == ("diffusers", "0.30")
    with pytest.raises(ValueError, match="no exact pins"):
        parse_requirement("torch==2.0.1")
    installed = {"diffusers": "0.29.2", "safetensors": "0.4.5"}

    def version_of(name):
        from importlib.metadata import PackageNotFoundError

        if name not in installed:
            raise PackageNotFoundError(name)
        return installed[name]

    assert missing_requirements(["diffusers>=0.30", "safetensors>=0.4", "pynrrd"], version_of) == ["diffusers>=0.30", "pynrrd"]
    requirements = REPO / "SDSegExtension" / "Resources" / "requirements.txt"
    installer = DependencyInstaller(requirements, log=lambda text: None, confirm=lambda message: False, testing=True)
    assert all(">=" in line for line in installer.requirements)
    if installer.missing():
        with pytest.raises(InstallDeclined, match="testing mode"):
            installer.ensure()
    else:
        installer.ensure()  # nothing to do, and no prompt


def test_install_declined_asks_only_once(monkeypatch, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("surely-not-installed-package-xyz>=1.0\n")
    asked = []
    installer = DependencyInstaller(requirements, log=lambda text: None, confirm=lambda message: asked.append(message) or False)
    for _ in range(2):
        with pytest.raises(InstallDeclined, match="declined"):
            installer.ensure()
    assert len(asked) == 1 and "surely-not-installed-package-xyz>=1.0" in asked[0]
