"""A frame read while a 4-D file stays decoded (``--frame all``) is the caller's own: editing it changes no other read.

Inside :func:`SDSegLogic.io.frame_cache.keep_decoded_frames`, :func:`SDSegLogic.io.readers.read_voxels` of a
non-float 4-D file (or of a colour volume) returned a view into the kept decode: a caller that edited it in place
(``labels[labels > 9] = 0``) changed the decode, and the next read of that frame returned the edited voxels. Now the
kept decode is read-only and every frame handed out is a copy the caller owns. The 4-D files are written by
SimpleITK (``JoinSeries``) as NRRD, NIfTI and MetaImage; the colour volume as a vector NRRD.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.io.frame_cache import keep_decoded_frames
from SDSegLogic.io.readers import read_image, read_voxels

sitk = pytest.importorskip("SimpleITK")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _frames(dtype) -> list:
    """Three (K, J, I) = (3, 4, 5) frames, each with its own values."""
    return [(np.arange(60).reshape(3, 4, 5) + 100 * t).astype(dtype) for t in range(3)]


@pytest.mark.parametrize("name", ["cine.nrrd", "cine.nii.gz", "cine.nii", "cine.mha"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int32])
def test_editing_a_frame_in_place_leaves_the_kept_decode_unchanged(tmp_path, name, dtype):
    frames = _frames(dtype)
    path = tmp_path / name
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames]), str(path))
    with keep_decoded_frames():
        first, _ = read_voxels(path, frame=0)
        np.testing.assert_array_equal(first, frames[0])
        first[first > 9] = 0  # what a caller may do with its own labelmap
        first += 1
        for t in (0, 1, 2, 0):
            again, _ = read_voxels(path, frame=t)
            np.testing.assert_array_equal(again, frames[t])
            assert again.flags.writeable
            again[...] = 7
        np.testing.assert_array_equal(read_image(path, frame=2).array, frames[2].astype(np.float32))


@pytest.mark.parametrize("name", ["colour.nrrd", "colour.mha"])
def test_a_colour_volume_read_while_frames_are_kept_is_the_callers_own(tmp_path, name):
    rgb = np.random.default_rng(3).integers(0, 255, size=(3, 4, 5, 3), dtype=np.uint8)
    path = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(path))
    with keep_decoded_frames():
        first, _ = read_voxels(path)
        np.testing.assert_array_equal(first, rgb)
        first[..., 0] = 0
        again, _ = read_voxels(path)
        np.testing.assert_array_equal(again, rgb)
