"""Multi-member gzip NRRD data (``cat a.gz b.gz``, bgzip, pigz) in the layouts pynrrd reads: 4-D, 2-D, colour, detached.

ITK (and so 3D Slicer) reads every member; pynrrd inflated only the first and refused the file as
"truncated or corrupt".
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

_SPACE = b"space: left-posterior-superior\nspace origin: (1,2,3)\n"


def _members(raw: bytes) -> bytes:
    """``raw`` as three gzip members, split inside a voxel, one of them empty."""
    return gzip.compress(raw[:7]) + gzip.compress(b"") + gzip.compress(raw[7:])


def _volume(shape, dtype=np.int16) -> np.ndarray:
    return np.random.default_rng(3).integers(-1000, 1000, shape).astype(dtype)


def _cases():
    four_d = _volume((3, 4, 5, 6))  # (frame, K, J, I): the frame axis is last in the header
    colour = np.random.default_rng(4).integers(0, 255, (4, 5, 6, 3)).astype(np.uint8)
    wide = _volume((4, 5, 6), np.int64)
    plane = _volume((5, 6))
    return {
        "4-D": (b"type: short\ndimension: 4\nsizes: 6 5 4 3\nkinds: domain domain domain list\n" + _SPACE
                + b"space directions: (0.5,0,0) (0,0.5,0) (0,0,2) none\nendian: little\n", four_d.tobytes(),
                {"frame": 1}, four_d[1]),
        "colour": (b"type: uchar\ndimension: 4\nsizes: 3 6 5 4\nkinds: RGB-color domain domain domain\n" + _SPACE
                   + b"space directions: none (0.5,0,0) (0,0.5,0) (0,0,2)\n", colour.tobytes(), {}, colour),
        "int64": (b"type: int64\ndimension: 3\nsizes: 6 5 4\nendian: little\n" + _SPACE
                  + b"space directions: (0.5,0,0) (0,0.5,0) (0,0,2)\n", wide.tobytes(), {}, wide),
        "2-D": (b"type: short\ndimension: 2\nsizes: 6 5\nendian: little\nspace dimension: 2\n"
                b"space directions: (0.5,0) (0,0.5)\n", plane.tobytes(), {}, plane[None]),
    }


@pytest.mark.parametrize("layout", ["4-D", "colour", "int64", "2-D"])
@pytest.mark.parametrize("attached", [True, False], ids=["attached", "detached"])
def test_multi_member_gzip_reads_like_simpleitk(tmp_path, layout, attached):
    import SimpleITK as sitk

    fields, raw, kwargs, expected = _cases()[layout]
    if attached:
        path = tmp_path / "image.nrrd"
        path.write_bytes(b"NRRD0004\n" + fields + b"encoding: gzip\n\n" + _members(raw))
    else:
        (tmp_path / "image.raw.gz").write_bytes(_members(raw))
        path = tmp_path / "image.nhdr"
        path.write_bytes(b"NRRD0004\n" + fields + b"encoding: gzip\ndata file: image.raw.gz\n\n")
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # what 3D Slicer reads
    assert itk.nbytes == len(raw)  # ITK reads every member
    data = read_image(path, **kwargs)
    assert np.array_equal(data.array, expected.astype(np.float32))
    if layout in ("int64", "colour"):
        assert np.array_equal(itk, expected)


def test_byte_skip_counts_inflated_bytes_across_members(tmp_path):
    fields, raw, kwargs, expected = _cases()["4-D"]
    path = tmp_path / "skip.nrrd"
    path.write_bytes(b"NRRD0004\n" + fields + b"encoding: gzip\nbyte skip: 5\n\n" + _members(b"12345" + raw))
    assert np.array_equal(read_image(path, **kwargs).array, expected.astype(np.float32))
    path.write_bytes(b"NRRD0004\n" + fields + b"encoding: gzip\nbyte skip: -1\n\n" + _members(b"junk" + raw))
    assert np.array_equal(read_image(path, **kwargs).array, expected.astype(np.float32))


@pytest.mark.parametrize("damage, message", [
    ("cut", "truncated"),  # the last member ends early
    ("short", "truncated"),  # complete members, too few bytes
    ("surplus", "more than"),  # more bytes than the header announces
    ("corrupt", "corrupt"),  # a broken deflate block in the second member
])
def test_damaged_multi_member_data_is_refused_by_name(tmp_path, damage, message):
    fields, raw, kwargs, _ = _cases()["4-D"]
    body = {
        "cut": _members(raw)[:-30],
        "short": _members(raw[:-4]),
        "surplus": _members(raw + b"\0\0\0\0"),
        "corrupt": gzip.compress(raw[:7]) + gzip.compress(raw[7:])[:12] + b"\xff" * 40,
    }[damage]
    path = tmp_path / f"{damage}.nrrd"
    path.write_bytes(b"NRRD0004\n" + fields + b"encoding: gzip\n\n" + body)
    with pytest.raises(InputError, match=rf"{damage}.nrrd: .*{message}"):
        read_image(path, **kwargs)
