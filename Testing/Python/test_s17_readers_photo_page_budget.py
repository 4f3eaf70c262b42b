"""The memory check of a multi-page picture sizes the page that is read, not the first page.

The pages of a TIFF may differ in size (a small preview page before the full picture); the check
counted page 0's pixels, so ``frame=1`` decoded a page far over the budget.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image


def _two_pages(path) -> None:
    """Page 0: 10 x 10 RGB; page 1: 300 x 400 RGB (360,000 values, 1.4 MB as float32)."""
    from PIL import Image

    preview = Image.fromarray(np.full((10, 10, 3), 40, np.uint8))
    full = Image.fromarray(np.random.default_rng(2).integers(0, 255, (300, 400, 3)).astype(np.uint8))
    preview.save(path, save_all=True, append_images=[full])


def test_the_budget_sees_the_page_that_is_read(tmp_path):
    path = tmp_path / "slide.tif"
    _two_pages(path)
    budget = 1_000_000  # bytes: page 0 fits, page 1 does not
    assert read_image(path, frame=0, max_bytes=budget).array.shape == (1, 10, 10, 3)
    with pytest.raises(InputError, match=r"slide\.tif: the image holds 360,000 values .* memory budget"):
        read_image(path, frame=1, max_bytes=budget)
    assert read_image(path, frame=1, max_bytes=4 * budget).array.shape == (1, 300, 400, 3)
