"""``sdseg score`` on 2-D pictures: contours as surfaces (MONAI's 2-D distances), and 16-bit masks read unscaled.

Distances are checked against MONAI on 2-D masks and against a brute-force contour distance
computed here; pictures are written with Pillow, as dataset tools write masks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from SDSegLogic.cli_score import score_files
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.overlap_metrics import segment_scores
from test_score import blob, brute_directed, brute_surface


def ellipse(shape, centre, radii) -> np.ndarray:
    """(H, W) bool ellipse."""
    y, x = np.indices(shape)
    return ((y - centre[0]) / radii[0]) ** 2 + ((x - centre[1]) / radii[1]) ** 2 <= 1


def contour_distances(a: np.ndarray, b: np.ndarray, spacing_yx) -> np.ndarray:
    """Brute force: from every 4-connected contour pixel of ``a`` to the nearest of ``b``, in mm."""
    def contour(mask):
        padded = np.pad(mask, 1)
        inner = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        return mask & ~inner

    pa, pb = np.argwhere(contour(a)) * spacing_yx, np.argwhere(contour(b)) * spacing_yx
    return np.sqrt(((pa[:, None] - pb[None]) ** 2).sum(-1)).min(1)


@pytest.fixture()
def masks():
    a = ellipse((40, 50), (20, 22), (10, 14))
    b = ellipse((40, 50), (22, 25), (9, 13))
    return a, b


def test_a_picture_s_distances_are_between_its_contours_as_monai_computes_in_2d(masks):
    """One slice: its pixels have no neighbours above or below, so the surface is the contour, not every pixel."""
    torch = pytest.importorskip("torch")
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    a, b = masks
    spacing_ijk = (0.6, 0.9, 1.0)  # a picture's pixel size along x (i) and y (j)
    ours = segment_scores(a[None], b[None], spacing_ijk)
    ab = contour_distances(a, b, np.array([0.9, 0.6]))
    ba = contour_distances(b, a, np.array([0.9, 0.6]))
    assert ours["hd95_mm"] == pytest.approx(max(np.percentile(ab, 95), np.percentile(ba, 95)), abs=1e-4)
    assert ours["assd_mm"] == pytest.approx(np.concatenate([ab, ba]).mean(), abs=1e-4)
    pa, pb = (torch.from_numpy(m[None, None].astype(np.float32)) for m in (a, b))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd95 = compute_hausdorff_distance(pa, pb, percentile=95, spacing=(0.9, 0.6)).item()
        assd = compute_average_surface_distance(pa, pb, symmetric=True, spacing=(0.9, 0.6)).item()
    assert (ours["hd95_mm"], ours["assd_mm"]) == pytest.approx((hd95, assd), abs=1e-4)
    # a sagittal single-slice volume (the flat axis is i) is 2-D in the same way
    sagittal = segment_scores(a[:, :, None], b[:, :, None], (1.0, 0.6, 0.9))
    assert sagittal["assd_mm"] == pytest.approx(ours["assd_mm"], abs=1e-4)


def test_a_structure_in_one_slice_of_a_volume_keeps_its_3d_surface():
    """Only the image's flat axes count: a one-slice structure inside a volume is all surface, as before."""
    rng = np.random.default_rng(3)
    spacing = (0.8, 1.3, 2.5)
    for _ in range(3):
        a, b = np.zeros((7, 12, 11), bool), np.zeros((7, 12, 11), bool)
        a[3] = blob((1, 12, 11), (0, *rng.uniform(4, 7, 2)), (1, 3, 4))[0]
        b[3] = blob((1, 12, 11), (0, *rng.uniform(4, 7, 2)), (1, 4, 3))[0]
        ours = segment_scores(a, b, spacing)
        ab, ba = brute_directed(brute_surface(a), brute_surface(b)), brute_directed(brute_surface(b), brute_surface(a))
        assert ours["assd_mm"] == pytest.approx(np.concatenate([ab, ba]).mean(), abs=1e-4)


@pytest.mark.parametrize("suffix", ["png", "tif"])
def test_16_bit_picture_masks_keep_their_labels(tmp_path, masks, suffix):
    """A 16-bit gray mask (PNG or TIFF, as dataset tools write labels) is not scaled to 0..255 like a photo."""
    Image = pytest.importorskip("PIL.Image")
    a, b = masks
    labels = np.where(a, 1, 0).astype(np.uint16)
    labels[b & ~a] = 257  # scaled by 255 / 65535, 257 would become label 1
    labels[30:33, 2:5] = 2
    pred, ref = tmp_path / f"pred.{suffix}", tmp_path / f"ref.{suffix}"
    Image.fromarray(labels).save(pred)
    Image.fromarray(np.where(labels == 2, 0, labels).astype(np.uint16)).save(ref)
    volume = read_label_volume(pred)
    assert [s.value for s in volume.segments] == [1, 2, 257]
    np.testing.assert_array_equal(volume.mask(volume.segments[2])[0], labels == 257)
    report = score_files(str(pred), str(ref))
    assert [(r["prediction_values"], r["dice"]) for r in report["segments"]] == [([1], 1.0), ([257], 1.0)]
    assert report["prediction_only"] == ["label 2"]  # unannotated in the reference: listed, not scored
