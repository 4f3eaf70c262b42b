"""A 4-D file replaced in place while its frames are read (``--frame all``) is decoded again.

The kept decode was keyed on the file's path, size and modification time: a same-size file put in
its place with the old modification time (``cp -p``, ``rsync -t``, ``os.utime``) served the old
file's frames. A real 4-D file is written by SimpleITK, replaced by ``os.replace`` with another of
the same size, and given back the old mtime.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from SDSegLogic.io.frame_cache import keep_decoded_frames
from SDSegLogic.io.readers import read_voxels

sitk = pytest.importorskip("SimpleITK")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _write(path, offset):
    frames = [(np.arange(60).reshape(3, 4, 5) + 100 * t + offset).astype(np.int16) for t in range(3)]
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames]), str(path))
    return frames


@pytest.mark.parametrize("name", ["cine.nrrd", "cine.mha", "cine.nii"])
def test_a_same_size_replacement_with_the_old_mtime_is_read_anew(tmp_path, name):
    path = tmp_path / name
    _write(path, 0)
    before = os.stat(path)
    new = tmp_path / ("new-" + name)
    frames = _write(new, 7)  # other voxel values, same header: same size
    assert os.stat(new).st_size == before.st_size
    with keep_decoded_frames():
        first, _ = read_voxels(path, frame=0)
        os.replace(new, path)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(path)
        assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        for t in (1, 0):
            again, _ = read_voxels(path, frame=t)
            np.testing.assert_array_equal(again, frames[t])
