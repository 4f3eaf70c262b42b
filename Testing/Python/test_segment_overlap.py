"""The volume pipeline's fast paths: overlapped batches, vectorised host work, SimpleITK-free NRRD IO.

* ``segment_array(overlap=True)`` (worker threads prepare batch i + 1 and store batch i - 1 while
  the predictor runs batch i) gives bit-identical labels, probabilities, variance and counts to
  ``overlap=False`` and to a plain reference loop (the pre-overlap algorithm), on a tiny real
  SDSeg model, binary and multi-class, on a reoriented grid with a slice range;
* progress, cancellation and errors behave exactly as in the sequential loop;
* reading a ``.nrrd``, segmenting and writing a ``.seg.nrrd`` never imports SimpleITK (the GPU
  machine has none), and ``bench_volume.py --synthetic N --random-model tiny`` runs without it.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from engine_test_helpers import segment_quietly, tiny_card, tiny_cpu_pipelines, tiny_model
from io_test_helpers import ThresholdPredictor, geometry_for, make_card, marker_array, signed_permutations

from SDSegLogic.errors import CancelledError, ModelCardError
from SDSegLogic.preprocessing import (map_intensity, network_input, resize_back, resize_slices,
                                      to_network_channels)

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (9, 40, 44)  # K, J, I: resized to the tiny model's 32 x 32 and back


def _reference(array, geometry, predictor, batch_size, slices, num_samples):
    """The pre-overlap algorithm, written plainly: reorient, per batch channels -> map -> resize ->
    predict -> resize back, then threshold/argmax over the whole volume and invert."""
    card = predictor.model_card
    size = predictor.config.sample_size
    out = segment_quietly(array, geometry, ThresholdPredictor(card, size), slices=slices)  # for the plan only
    plan = out.plan
    rplan = plan.reorientation
    data = rplan.apply(np.asarray(array, dtype=np.float32))
    target = rplan.target.array_shape
    classes = plan.num_classes
    probs = np.zeros((classes,) + target, np.float32)
    variance = np.zeros_like(probs)
    start, stop = plan.model_range
    for first in range(start, stop, batch_size):
        last = min(first + batch_size, stop)
        x = resize_slices(map_intensity(to_network_channels(data[first:last], plan.channel_mode), card.intensity), size)
        p, v = predictor.predict_probabilities(x, num_samples=num_samples, seed=0)
        probs[:, first:last] = np.moveaxis(resize_back(p, plan.in_plane), 1, 0)
        if v is not None:
            variance[:, first:last] = np.moveaxis(resize_back(v, plan.in_plane), 1, 0)
    values = np.asarray(card.label_values(), dtype=np.uint8)
    if classes == 1:
        labels = np.where(probs[0] > card.threshold, values[1], 0).astype(np.uint8)
    else:
        labels = values[np.argmax(probs, axis=0)]
        outside = np.ones(target[0], bool)
        outside[start:stop] = False
        labels[outside] = 0
    return rplan.invert(labels), rplan.invert(probs, leading=1), rplan.invert(variance, leading=1)


@pytest.fixture(scope="module")
def pipes():
    return tiny_cpu_pipelines()


@pytest.mark.parametrize("kind", ["binary", "multi"])
@pytest.mark.parametrize("num_samples", [1, 2])
def test_overlapped_equals_sequential_and_reference_on_a_real_model(pipes, kind, num_samples):
    pipe = pipes[kind]
    g = geometry_for(signed_permutations()[13], shape_kji=SHAPE)
    array = np.random.default_rng(5).normal(20, 120, SHAPE).astype(np.float32)
    kwargs = dict(batch_size=3, slices="1:-1", num_samples=num_samples, seed=0)
    seq = segment_quietly(array, g, pipe, overlap=False, **kwargs)
    ovl = segment_quietly(array, g, pipe, overlap=True, **kwargs)
    assert ovl.labels.dtype == np.uint8 and ovl.labels.shape == array.shape and ovl.labels.flags.c_contiguous
    assert np.array_equal(seq.labels, ovl.labels) and np.array_equal(seq.probabilities, ovl.probabilities)
    assert seq.voxel_counts == ovl.voxel_counts and sum(ovl.voxel_counts.values()) > 0
    assert (seq.variance is None) == (ovl.variance is None) == (num_samples == 1)
    if num_samples > 1:
        assert np.array_equal(seq.variance, ovl.variance)
    labels, probs, variance = _reference(array, g, pipe, 3, "1:-1", num_samples)
    squeeze = (lambda a: a[0]) if kind == "binary" else (lambda a: a)
    assert np.array_equal(ovl.labels, labels)
    assert np.array_equal(ovl.probabilities, squeeze(probs))
    if num_samples > 1:
        assert np.array_equal(ovl.variance, squeeze(variance))
    values = tiny_card(None if kind == "binary" else 4).label_values()[1:]
    assert list(ovl.voxel_counts.values()) == [int(np.count_nonzero(labels == v)) for v in values]


def test_overlap_defaults_to_cuda_predictors_only(monkeypatch):
    import SDSegLogic.segment as segment

    seen = []
    monkeypatch.setattr(segment, "_run_overlapped", lambda *a: seen.append("overlapped") or segment._run_sequential(*a))
    card = make_card()
    g = geometry_for(np.eye(3))
    predictor = ThresholdPredictor(card, 32)
    segment_quietly(marker_array(), g, predictor, batch_size=2)
    assert seen == []
    predictor.device = "cuda:0"
    segment_quietly(marker_array(), g, predictor, batch_size=2)
    assert seen == ["overlapped"]


class _ThreadRecordingPredictor(ThresholdPredictor):
    def predict_probabilities(self, images, **kwargs):
        self.threads = getattr(self, "threads", set()) | {threading.get_ident()}
        return super().predict_probabilities(images, **kwargs)


def test_overlap_keeps_progress_cancel_and_the_calling_thread():
    card = make_card()
    g = geometry_for(np.eye(3))
    calls = []
    predictor = _ThreadRecordingPredictor(card, 32)
    result = segment_quietly(marker_array(), g, predictor, batch_size=4, overlap=True,
                    progress=lambda done, total: calls.append((done, total, threading.get_ident())))
    assert [c[:2] for c in calls] == [(4, 6), (6, 6)]
    assert {c[2] for c in calls} == predictor.threads == {threading.get_ident()}
    assert np.array_equal(result.labels, (marker_array() > 0).astype(np.uint8))

    asked = []
    predictor = ThresholdPredictor(card, 32)
    with pytest.raises(CancelledError, match="after 2 of 6 slices"):
        segment_quietly(marker_array(), g, predictor, batch_size=2, overlap=True,
               should_cancel=lambda: asked.append(1) or len(asked) > 1)
    assert len(predictor.calls) == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("sdseg-")], "worker threads must be joined"


class _BadSecondBatch(ThresholdPredictor):
    def predict_probabilities(self, images, **kwargs):
        probs, var = super().predict_probabilities(images, **kwargs)
        if len(self.calls) == 2:
            return probs[:, :, :16], var
        return probs, var


def test_overlap_raises_predictor_errors_in_the_calling_thread():
    g = geometry_for(np.eye(3))
    with pytest.raises(ModelCardError, match="expected"):
        segment_quietly(marker_array(), g, _BadSecondBatch(make_card(), 32), batch_size=2, overlap=True)
    assert not [t for t in threading.enumerate() if t.name.startswith("sdseg-")]


@pytest.mark.parametrize("mode, shape", [("repeat", (3, 20, 28)), ("luminance", (3, 20, 28, 3)), ("rgb", (3, 20, 28, 3))])
@pytest.mark.parametrize("kind", ["window", "minmax"])
def test_network_input_is_bit_identical_to_the_plain_composition(mode, shape, kind):
    card = make_card(kind=kind)
    x = np.random.default_rng(3).normal(50, 300, shape).astype(np.float32)
    reference = np.array([x.min(), x.max()], np.float32) if kind == "minmax" else None
    plain = resize_slices(map_intensity(to_network_channels(x, mode), card.intensity, reference=reference), 32)
    fast = network_input(x, mode, card.intensity, 32, reference=reference)
    assert fast.dtype == np.float32 and fast.flags.c_contiguous and np.array_equal(fast, plain)


def test_parallel_gzip_is_one_standard_member_independent_of_threads():
    from SDSegLogic.io._nrrd_write import _CHUNK, write_gzip_member

    rng = np.random.default_rng(0)
    for n in (0, 7, _CHUNK, 2 * _CHUNK + 5):
        data = (rng.random(n) > 0.8).astype(np.uint8)
        outputs = []
        for workers in (1, 3):
            buffer = io.BytesIO()
            write_gzip_member(buffer, memoryview(data).cast("B"), 6, workers=workers)
            outputs.append(buffer.getvalue())
        assert outputs[0] == outputs[1]
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        assert inflater.decompress(outputs[0]) == data.tobytes() and inflater.eof and not inflater.unused_data


def test_segment_extent_matches_voxel_listing():
    from SDSegLogic.io.seg_nrrd import segment_extent

    rng = np.random.default_rng(1)
    labels = np.zeros((7, 9, 11), np.uint8)
    labels[2:5, 1:3, 4:10] = (rng.random((3, 2, 6)) > 0.5) * 2
    labels[6, 8, 0] = 1
    for value in (1, 2, 3):
        k, j, i = np.nonzero(labels == value)
        expected = [0, -1, 0, -1, 0, -1] if k.size == 0 else [i.min(), i.max(), j.min(), j.max(), k.min(), k.max()]
        assert segment_extent(labels, value) == [int(v) for v in expected]


_NO_SITK = "import sys; sys.modules['SimpleITK'] = None  # any 'import SimpleITK' now raises ImportError\n"


def test_nrrd_read_segment_write_never_imports_simpleitk(tmp_path):
    from SDSegLogic.model_folder import save_model_folder

    folder = save_model_folder(tmp_path / "model", tiny_model(num_classes=3), tiny_card(num_classes=3))
    script = _NO_SITK + f"""
import warnings, numpy as np, nrrd
from pathlib import Path
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image, write_segmentation, write_float_volume
from SDSegLogic.io._nrrd_write import write_nrrd
from SDSegLogic.pipeline import SDSegPipeline
from SDSegLogic.segment import segment_array
tmp = Path({str(tmp_path)!r})
volume = np.random.default_rng(0).integers(-1000, 400, (5, 40, 36)).astype(np.int16)
geometry = ImageGeometry((0.7, 0.8, 2.5), (-10.0, 5.0, 3.0), np.diag([1.0, -1.0, 1.0]), (36, 40, 5))
write_nrrd(tmp / "ct.nrrd", volume, geometry, {{}})
image = read_image(tmp / "ct.nrrd")
assert np.array_equal(image.array, volume) and image.geometry == geometry
pipe = SDSegPipeline.from_pretrained({str(folder)!r}, device="cpu")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    result = segment_array(image.array, image.geometry, pipe, batch_size=2)
out = write_segmentation(tmp / "ct.seg.nrrd", result, pipe.model_card, input_path=tmp / "ct.nrrd")
write_float_volume(tmp / "ct.prob.nrrd", result.probabilities[1], result.geometry)
data, header = nrrd.read(str(out), index_order="C")
assert np.array_equal(data, result.labels), "labels round-trip"
assert "SimpleITK" not in [m for m in sys.modules if sys.modules[m] is not None]
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_volume_benchmark_random_tiny_model_without_simpleitk(tmp_path):
    out = tmp_path / "volume.json"
    script = _NO_SITK + (
        "import runpy\n"
        f"sys.argv = ['bench_volume.py', '--synthetic', '5', '--random-model', 'tiny', '--batch-size', '2', "
        f"'--json', {str(out)!r}]\n"
        f"runpy.run_path({str(ROOT / 'benchmarks' / 'bench_volume.py')!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["shape_kji"] == [5, 512, 512] and result["input"].endswith(".nrrd")
    assert result["model"] == "random weights, preset tiny" and result["sample_size"] == 32
    assert result["batch_size"] == 2 and result["network_calls"] == 3 and result["warmup_s"] > 0
    assert set(result["stages_s"]) >= {"read", "plan", "network", "pre/post-processing", "write .seg.nrrd"}
    assert result["slices_per_s"] > 0 and result["peak_rss_mib"] > 0 and result["output_bytes"] > 0
    assert result["compile"] == "none"


def test_volume_benchmark_compile_option_tolerates_pipelines_without_aot(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_volume", ROOT / "benchmarks" / "bench_volume.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    class OldPipeline:  # compile() without a backend argument
        def __init__(self):
            self.calls = []

        def compile(self, mode="default", cache_dir=None):
            self.calls.append(mode)
            return self

    class NewPipeline(OldPipeline):
        def compile(self, mode="default", cache_dir=None, backend="inductor"):
            self.calls.append((mode, backend))
            return self

    old, new = OldPipeline(), NewPipeline()
    assert bench._compile(old, "aot", "default")[0].startswith("jit (aot unsupported")
    assert old.calls == ["default"] and "falling back" in capsys.readouterr().err
    assert bench._compile(new, "aot", "default")[0] == "aot" and new.calls == [("default", "aot")]
    assert bench._compile(object(), "jit", "default")[0].startswith("none (jit unsupported")
    assert bench._compile(new, "none", "default") == ("none", 0.0)
    assert bench._warmup_range(200, 64) == (0, 72) and bench._warmup_range(5, 8) == (0, 5)


@pytest.mark.parametrize("encoding", ["gzip", "raw"])
@pytest.mark.parametrize("dtype, endian", [("int16", "little"), (">i2", "big"), ("uint8", "little"), ("float32", "little"),
                                           (">f8", "big"), ("uint16", "little")])
def test_fast_nrrd_reader_equals_pynrrd(tmp_path, monkeypatch, encoding, dtype, endian):
    import nrrd

    import SDSegLogic.io._nrrd as nrrd_module
    from SDSegLogic.io import read_image

    monkeypatch.setattr(nrrd_module, "_PIECE", 7)  # odd pieces: voxels split across pieces
    rng = np.random.default_rng(2)
    volume = (rng.normal(0, 100, (3, 5, 4)) + (0 if np.dtype(dtype).kind == "f" else 120)).astype(dtype)
    path = tmp_path / "v.nrrd"
    header = {"space": "left-posterior-superior", "space directions": np.diag([0.5, 0.6, 2.0]),
              "space origin": [1.0, 2.0, 3.0], "kinds": ["domain"] * 3, "encoding": encoding, "endian": endian}
    nrrd.write(str(path), volume, header, index_order="C")
    called = []
    original = nrrd_module._read_scalar_volume
    monkeypatch.setattr(nrrd_module, "_read_scalar_volume", lambda *a: called.append(1) or original(*a))
    image = read_image(path)
    expected, _ = nrrd.read(str(path), index_order="C")
    assert called and image.array.dtype == np.float32 and image.array.flags.c_contiguous
    assert np.array_equal(image.array, expected.astype(np.float32))
    assert image.metadata["original_dtype"] == np.dtype(dtype).newbyteorder("=").name
    truncated = tmp_path / "cut.nrrd"
    truncated.write_bytes(path.read_bytes()[:-9])
    from SDSegLogic.errors import InputError

    with pytest.raises(InputError, match="truncated"):
        read_image(truncated)
