"""Intensity mapping, NaN policy, channel adaptation and resizing (no half-pixel shift)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import make_card

from SDSegLogic.errors import InputError
from SDSegLogic.model_card import IntensityMapping
from SDSegLogic.preprocessing import (channel_mode, check_finite, map_intensity, modality_refusal, resize_back,
                                      resize_slices, to_network_channels, warn_if_raw_ct)

WINDOW = IntensityMapping("window", -125.0, 275.0)


def test_window_mapping():
    x = np.array([-1000.0, -125.0, 75.0, 275.0, 3000.0], dtype=np.float32)
    np.testing.assert_allclose(map_intensity(x, WINDOW), [-1, -1, 0, 1, 1])
    assert map_intensity(x, WINDOW).dtype == np.float32


def test_rgb_mapping_and_minmax_reference():
    rgb = IntensityMapping("rgb", None, None)
    np.testing.assert_allclose(map_intensity(np.array([0.0, 127.5, 255.0, 300.0]), rgb), [-1, 0, 1, 1])
    minmax = IntensityMapping("minmax", None, None)
    np.testing.assert_allclose(map_intensity(np.array([2.0, 4.0]), minmax, reference=np.array([0.0, 4.0])), [0, 1])


@pytest.mark.parametrize("value", [0.0, -1024.0, 3.5e4])
def test_constant_image_never_gives_nan(value):
    x = np.full((2, 4, 4), value, dtype=np.float32)
    assert np.all(np.isfinite(map_intensity(x, WINDOW)))
    with pytest.warns(UserWarning, match="constant"):
        out = map_intensity(x, IntensityMapping("minmax", None, None))
    assert np.all(out == -1.0)


def test_nan_policy_reject_and_fill():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    x[1, 2, 3] = np.nan
    x[0, 0, 1] = np.inf
    with pytest.raises(InputError, match=r"2 voxel value\(s\).*\(0, 0, 1\).*nan_policy='fill'"):
        check_finite(x, WINDOW, "reject", "ct.nrrd")
    with pytest.warns(UserWarning, match="replaced 2"):
        filled, count = check_finite(x, WINDOW, "fill")
    assert count == 2 and filled[1, 2, 3] == -125.0 and filled[0, 0, 1] == -125.0
    assert np.isnan(x[1, 2, 3]), "the input must not be modified"
    same, count = check_finite(filled, WINDOW)
    assert same is filled and count == 0
    with pytest.raises(InputError, match="nan_policy"):
        check_finite(x, WINDOW, "ignore")


def test_channel_modes():
    assert channel_mode(False, 1) == ("repeat", None)
    assert channel_mode(True, 3) == ("rgb", None)
    mode, note = channel_mode(True, 1)
    assert mode == "luminance" and "luminance" in note
    mode, note = channel_mode(False, 3)
    assert mode == "repeat" and "grayscale image given to a colour" in note
    with pytest.raises(InputError, match="strict"):
        channel_mode(True, 1, strict=True)


def test_a_strict_modality_refusal_leads_with_the_modality_and_keeps_the_channels():
    mismatch = "fundus: the model was trained on CT images but the input is a 2-D picture (a colour photo, 3 channels)"
    text = str(modality_refusal(mismatch, "CT", is_rgb=True, input_channels=1))
    assert text.startswith(mismatch + ", also a colour image given to a 1-channel (grayscale) model; refused because strict")
    assert "Give a CT image, use a model trained on colour images, or turn strict checking off" in text
    assert "converted to luminance" in text and "'Refuse mismatched inputs (strict)'" in text
    plain = str(modality_refusal("x: the model was trained on CT images but the input is a MR image", "CT", False, 1))
    assert plain.endswith("Give a CT image, use a model trained on such inputs, or turn strict checking off to segment "
                          "it anyway.") and "grayscale" not in plain


def test_to_network_channels():
    gray = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    rep = to_network_channels(gray, "repeat")
    assert rep.shape == (2, 3, 3, 4) and np.array_equal(rep[:, 0], gray) and np.array_equal(rep[:, 2], gray)
    rgb = np.zeros((1, 2, 2, 3), dtype=np.float32)
    rgb[..., 0] = 100.0
    assert np.array_equal(to_network_channels(rgb, "rgb")[:, 0], rgb[..., 0])
    np.testing.assert_allclose(to_network_channels(rgb, "luminance")[:, 1], 29.9, rtol=1e-6)


def test_resize_shapes_and_ranges():
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 40, 50)).astype(np.float32)
    y = resize_slices(x, 32)
    assert y.shape == (2, 3, 32, 32) and y.dtype == np.float32 and y.min() >= -1 and y.max() <= 1
    p = np.random.default_rng(1).uniform(0, 1, (2, 1, 32, 32)).astype(np.float32)
    back = resize_back(p, (40, 50))
    assert back.shape == (2, 1, 40, 50) and back.min() >= 0 and back.max() <= 1
    assert np.array_equal(resize_slices(y, 32), y)


def _weighted_centroid(soft: np.ndarray):
    rows, cols = np.indices(soft.shape)
    return (rows * soft).sum() / soft.sum(), (cols * soft).sum() / soft.sum()


@pytest.mark.parametrize("native, size", [((40, 60), 32), ((20, 24), 64), ((37, 53), 32), ((64, 48), 32)])
def test_resize_round_trip_does_not_shift_an_off_centre_marker(native, size):
    """Image -> model grid -> back: the centroid of an off-centre marker stays put (< 0.02 px).

    The marker is smooth (a Gaussian, sigma 2 px): the network input is shrunk without
    antialiasing, as the training images were, so a sharp-edged block would move by aliasing
    (up to 0.1 px), which is not what this test measures.
    """
    import torch
    import torch.nn.functional as F

    h, w = native
    rows, cols = np.indices((h, w))
    image = np.exp(-((rows - 9.5) ** 2 + (cols - 8.0) ** 2) / 8.0).astype(np.float32)[None, None]  # off-centre
    back = resize_back(resize_slices(image, size), (h, w))[0, 0]
    row, col = _weighted_centroid(back)
    true_row, true_col = _weighted_centroid(image[0, 0])
    assert abs(row - true_row) < 0.02 and abs(col - true_col) < 0.02
    # the same measurement detects a half-pixel convention mismatch (align_corners=True on the way back)
    wrong = F.interpolate(torch.from_numpy(resize_slices(image, size)), size=(h, w), mode="bilinear",
                          align_corners=True)[0, 0].numpy()
    wrong_row, wrong_col = _weighted_centroid(wrong)
    assert max(abs(wrong_row - true_row), abs(wrong_col - true_col)) > 0.05


@pytest.mark.parametrize("native, size", [((8, 16), 32), ((16, 8), 64)])
def test_thresholded_mask_survives_integer_factor_round_trip(native, size):
    h, w = native
    image = np.full((1, 1, h, w), -1.0, dtype=np.float32)
    image[0, 0, 3:9, 2:6] = 1.0
    prob = (resize_slices(image, size) > 0).astype(np.float32)
    mask = resize_back(prob, (h, w))[0, 0] > 0.5
    assert np.array_equal(mask, image[0, 0] > 0)


def test_raw_ct_warning():
    card = make_card()
    with pytest.warns(UserWarning, match="raw stored values"):
        assert warn_if_raw_ct(np.array([0.0, 4095.0]), card) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_raw_ct(np.array([-1024.0, 3000.0]), card) is None
        assert warn_if_raw_ct(np.array([0.0, 255.0]), make_card(kind="rgb", channels=3)) is None
