"""A multi-class ``--prob-map`` / ``--uncertainty`` keeps one map on the input grid, not all C class maps.

``sdseg segment`` writes P(any segment) = 1 - P(background) and the variance summed over classes,
but the volume pipeline used to keep all C float32 class maps of each on the input grid (C times the
memory, and the budget check counted them all, refusing volumes whose outputs fit). With
``collapse_classes`` it keeps only what is written; the written values and the labels are unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
from cli_segment_fixtures import crop, isolated_home, run  # noqa: F401 (fixtures)
from cli_test_helpers import make_model_folder
from engine_test_helpers import tiny_cpu_pipelines

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.segment import plan_segmentation, segment_array

EXIT_OK = 0
CLASSES = 4


@pytest.fixture(scope="module")
def multi():
    return tiny_cpu_pipelines()["multi"]


def _volume():
    array = np.linspace(-200, 300, 5 * 20 * 24, dtype=np.float32).reshape(5, 20, 24)
    return array, ImageGeometry((0.8, 0.8, 2.0), (0.0, 0.0, 0.0), np.eye(3), (24, 20, 5))


@pytest.mark.parametrize("device_postprocess", [False, True])  # True: the CUDA path's NativeBatch, run on the CPU
def test_collapsed_maps_are_one_map_each_with_the_written_values(multi, device_postprocess):
    array, geometry = _volume()
    options = dict(batch_size=2, num_samples=3, seed=7, device_postprocess=device_postprocess)
    full = segment_array(array, geometry, multi, **options)
    kept = segment_array(array, geometry, multi, collapse_classes=True, **options)
    assert multi.num_network_classes == CLASSES
    assert full.probabilities.shape == (CLASSES,) + geometry.array_shape
    assert kept.probabilities.shape == geometry.array_shape and kept.variance.shape == geometry.array_shape
    assert kept.probabilities.dtype == np.float32 and kept.variance.dtype == np.float32
    assert kept.probabilities.nbytes * CLASSES == full.probabilities.nbytes
    assert kept.variance.nbytes * CLASSES == full.variance.nbytes
    # exactly what the CLI used to compute from the full maps before writing
    assert np.array_equal(kept.probabilities, 1.0 - full.probabilities[0])
    assert np.array_equal(kept.variance, full.variance.sum(axis=0))
    assert np.array_equal(kept.labels, full.labels)
    assert kept.voxel_counts == full.voxel_counts


def test_the_memory_estimate_counts_one_kept_map_not_c(multi):
    array, geometry = _volume()
    card, size = multi.model_card, multi.config.sample_size
    common = dict(model_size=size, num_samples=3, keep_probabilities=True, keep_variance=True)
    full = plan_segmentation(array.shape, geometry, card, **common)
    kept = plan_segmentation(array.shape, geometry, card, collapse_classes=True, **common)
    saved = full.estimated_bytes - kept.estimated_bytes
    # two kinds of map (probabilities, variance), (C - 1) float32 maps fewer each, counted twice as before
    assert saved == geometry.num_voxels * 4 * (CLASSES - 1) * 4


def test_the_cli_fits_a_budget_that_holds_only_the_written_maps(crop, tmp_path, capsys, monkeypatch):
    sitk = pytest.importorskip("SimpleITK")
    folder = make_model_folder(tmp_path / "multi-model", num_classes=CLASSES)
    from SDSegLogic.model_folder import load_model_folder

    _, card = load_model_folder(folder, device="cpu")
    image = sitk.ReadImage(str(crop))
    from SDSegLogic.io import read_image

    data = read_image(crop)
    common = dict(model_size=32, num_samples=2, keep_probabilities=True, keep_variance=True, batch_size=4)
    full = plan_segmentation(data.array.shape, data.geometry, card, **common).estimated_bytes
    saved = data.geometry.num_voxels * 4 * (CLASSES - 1) * 4  # see test_the_memory_estimate_counts_one_kept_map_not_c
    monkeypatch.setenv("SDSEG_MAX_BYTES", str(full - saved // 2))  # the written maps fit, C class maps would not
    out = tmp_path / "out"
    code, _, err = run(["segment", crop, "-o", out / "crop.seg.nrrd", "--prob-map", out / "crop.prob.nrrd",
                        "--uncertainty", out / "crop.var.nrrd", "--samples", 2, "--model", folder, "--device", "cpu",
                        "--batch-size", 4], capsys)
    assert code == EXIT_OK, err
    prob = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "crop.prob.nrrd")))
    var = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "crop.var.nrrd")))
    assert prob.shape == var.shape == sitk.GetArrayFromImage(image).shape
    assert prob.dtype == np.float32 and 0.0 <= prob.min() and prob.max() <= 1.0 and var.min() >= 0.0
