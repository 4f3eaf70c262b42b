"""The NRRD fast path (3-D scalar) and the pynrrd layouts (4-D) share one member-by-member gzip inflater:
the same damaged stream is accepted or refused alike, by name, in both."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

_SPACE = b"endian: little\nspace: left-posterior-superior\nencoding: gzip\n"
_LAYOUTS = {
    "fast 3-D": (b"type: short\ndimension: 3\nsizes: 6 5 4\nspace directions: (1,0,0) (0,1,0) (0,0,1)\n", {}),
    "pynrrd 4-D": (b"type: short\ndimension: 4\nsizes: 6 5 2 2\nkinds: domain domain domain list\n"
                   b"space directions: (1,0,0) (0,1,0) (0,0,1) none\n", {"frame": 0}),
}


def _members(raw: bytes) -> bytes:
    return gzip.compress(raw[:7]) + gzip.compress(b"") + gzip.compress(raw[7:])


@pytest.mark.parametrize("layout", list(_LAYOUTS))
@pytest.mark.parametrize("damage, refusal", [
    ("intact", None), ("member after the data", None), ("trailer cut", "truncated"), ("member cut", "truncated"),
    ("too few bytes", "truncated"), ("surplus bytes", "more than"), ("corrupt", "corrupt"), ("no data", "truncated"),
])
def test_both_nrrd_paths_treat_gzip_members_alike(tmp_path, layout, damage, refusal):
    fields, kwargs = _LAYOUTS[layout]
    volume = np.random.default_rng(1).integers(-1000, 1000, (4, 5, 6)).astype(np.int16)
    raw = volume.tobytes()
    body = {"intact": _members(raw), "member after the data": _members(raw) + gzip.compress(b"xx"),
            "trailer cut": _members(raw)[:-4], "member cut": _members(raw)[:-30], "too few bytes": _members(raw[:-4]),
            "surplus bytes": _members(raw + b"\0\0"), "no data": b"",
            "corrupt": gzip.compress(raw[:7]) + gzip.compress(raw[7:])[:12] + b"\xff" * 40}[damage]
    path = tmp_path / "image.nrrd"
    path.write_bytes(b"NRRD0004\n" + fields + _SPACE + b"\n" + body)
    if refusal is None:
        expected = volume if not kwargs else volume.reshape(2, 2, 5, 6)[0]
        assert np.array_equal(read_image(path, **kwargs).array, expected.astype(np.float32))
        return
    with pytest.raises(InputError, match=rf"image\.nrrd: .*{refusal}"):
        read_image(path, **kwargs)
