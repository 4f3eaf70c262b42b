"""Min-max intensity scaling of a finite image whose range is wider than float32 can hold.

``map_intensity`` promises values in [-1, 1] and never NaN for finite input. An image holding
both float32 extremes (e.g. -FLT_MAX and +FLT_MAX no-data markers) has a range of ~6.8e38: in
float32 ``x - min`` and ``max - min`` overflow to infinity, and ``inf / inf`` gave NaN for the
maximum (and mapped 0 to -1 instead of the middle of the range).
"""

from __future__ import annotations

import numpy as np

from SDSegLogic.model_card import IntensityMapping
from SDSegLogic.preprocessing import map_intensity, network_input

MINMAX = IntensityMapping(kind="minmax", low=None, high=None)


def _extreme_image() -> np.ndarray:
    top = np.finfo(np.float32).max
    return np.array([[[-top, 0.0, top / 2, top]]], dtype=np.float32)  # (1, 1, 4)


def test_minmax_of_a_range_beyond_float32_is_finite_and_linear():
    x = _extreme_image()
    out = map_intensity(x, MINMAX)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert out[0, 0, 0] == -1.0 and out[0, 0, -1] == 1.0
    expected = (x.astype(np.float64) - x.min()) / (float(x.max()) - float(x.min())) * 2 - 1
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_network_input_of_such_an_image_is_finite():
    slices = np.tile(_extreme_image(), (1, 4, 1))  # (1, 4, 4) gray slice
    x = network_input(slices, "repeat", MINMAX, 8, reference=slices)
    assert x.shape == (1, 3, 8, 8) and np.isfinite(x).all() and x.min() >= -1.0 and x.max() <= 1.0


def test_an_ordinary_range_is_unchanged_by_the_wide_path():
    rng = np.random.default_rng(0)
    x = rng.normal(100.0, 50.0, (2, 5, 7)).astype(np.float32)
    out = map_intensity(x, MINMAX)
    assert np.array_equal(out, np.clip((x - float(x.min())) / (float(x.max()) - float(x.min())) * 2.0 - 1.0, -1.0, 1.0))
