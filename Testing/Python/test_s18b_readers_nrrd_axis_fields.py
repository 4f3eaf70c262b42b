"""An NRRD header whose per-axis fields disagree with its ``dimension`` (Teem refuses such files) is an
input error naming the file, the field and both counts, not an IndexError deep in the geometry code."""

from __future__ import annotations

import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io.readers import read_image

HEADERS = {
    "sizes": "sizes: 4 4\n",
    "kinds": "sizes: 4 4 2\nkinds: domain domain\n",
    "space directions": "sizes: 4 4 2\nspace: left-posterior-superior\nspace directions: (1,0,0) (0,1,0)\n",
    "spacings": "sizes: 4 4 2\nspacings: 1 1 1 1\n",
}


@pytest.mark.parametrize("field", list(HEADERS))
def test_a_per_axis_field_with_another_count_than_the_dimension_is_named(tmp_path, field):
    path = tmp_path / "damaged.nrrd"
    path.write_bytes(("NRRD0004\ntype: float\ndimension: 3\nencoding: raw\n" + HEADERS[field] + "\n").encode()
                     + bytes(4 * 4 * 2 * 4))
    with pytest.raises(InputError, match=rf"damaged\.nrrd: the NRRD header's '{field}' has \d entries but its dimension is 3"):
        read_image(path)


def test_a_consistent_header_still_reads(tmp_path):
    path = tmp_path / "fine.nrrd"
    path.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nencoding: raw\nsizes: 4 4 2\nspacings: 1 1 2\n\n"
                     + bytes(4 * 4 * 2 * 4))
    assert read_image(path).array.shape == (2, 4, 4)
