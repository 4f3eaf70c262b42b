"""The memory check of a picture counts the values it will hold: a palette picture becomes RGB(A)."""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image


@pytest.mark.parametrize("transparency", [False, True])
def test_palette_picture_is_checked_as_the_colour_image_it_becomes(tmp_path, transparency):
    from PIL import Image

    indices = np.random.default_rng(2).integers(0, 4, (40, 50)).astype(np.uint8)
    picture = Image.fromarray(indices, "P")
    picture.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    if transparency:
        picture.info["transparency"] = 200  # an unused index: every pixel stays opaque
    path = tmp_path / "palette.png"
    picture.save(path, **({"transparency": 200} if transparency else {}))
    values = 40 * 50 * 3  # the alpha of an opaque RGBA picture is dropped after the check
    needed = 40 * 50 * (4 if transparency else 3) * 4  # float32 bytes of what read_photo decodes
    with pytest.raises(InputError, match="palette.png.*memory budget"):
        read_image(path, max_bytes=needed - 1)
    data = read_image(path, max_bytes=needed)
    assert data.is_rgb and data.array.size == values
