"""A colour JPEG mask reads with one foreground in training and in ``sdseg score``: one grey-level rule.

Kvasir-SEG style masks are JPEGs whose decoded pixels are grey with a tint (red, green and blue differ by a few
levels). Training's mask reader (:func:`sdseg_training.data.masks.read_mask`, rule ``"grey"``, foreground > 127)
and the engine's JPEG mask reader (:mod:`SDSegLogic.io.jpeg_labels`, label 255 where foreground) must agree pixel
for pixel, or the Dice ``sdseg score`` reports differs from the one training reported on the same masks. Pillow's
``convert("L")`` (fixed-point, rounded) and the engine's unrounded luma disagree where the luma lies between 127
and 127.5. The masks are drawn and saved with Pillow.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from SDSegLogic.io.jpeg_labels import FOREGROUND, grey_levels
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.preprocessing import LUMINANCE

pytest.importorskip("sdseg_training")
from sdseg_training.data.labels import MASK_THRESHOLD  # noqa: E402
from sdseg_training.data.masks import read_mask  # noqa: E402


def _tinted_jpeg_mask(seed: int) -> bytes:
    """A 256 x 256 RGB JPEG (quality 90) of blurred, slightly tinted white blobs on black, as a polyp mask."""
    img = Image.new("RGB", (256, 256), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(seed)
    for _ in range(10):
        x, y = (int(v) for v in rng.integers(5, 200, 2))
        size = int(rng.integers(15, 50))
        draw.ellipse((x, y, x + size, y + size), fill=tuple(int(c) for c in rng.integers(230, 256, 3)))
    buffer = io.BytesIO()
    img.filter(ImageFilter.GaussianBlur(1)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _rules_disagree(path) -> bool:
    """Whether Pillow's grey (``convert("L")``) and the unrounded luma put some pixel of ``path`` on either side
    of 127: a file on which two grey rules would read different foregrounds."""
    with Image.open(path) as im:
        decoded = np.asarray(im.convert("RGB"))
        pillow_grey = np.asarray(im.convert("L"))
    luma = decoded.astype(np.float32) @ np.asarray(LUMINANCE, np.float32)
    return bool(((luma > MASK_THRESHOLD) != (pillow_grey > MASK_THRESHOLD)).any())


def test_training_and_score_read_one_foreground_from_a_colour_jpeg_mask(tmp_path):
    telling = []  # the masks on which the two rules part (a few pixels each, where the luma is 127..127.5)
    for seed in range(30):
        path = tmp_path / f"kvasir_{seed:03d}.jpg"
        path.write_bytes(_tinted_jpeg_mask(seed))
        if _rules_disagree(path):
            telling.append(path)
    assert telling, "no mask where Pillow's grey and the luma part: the test would prove nothing"
    for path in telling:
        training = read_mask(path, "grey") > MASK_THRESHOLD
        scored = read_label_volume(path).layers[0, 0] == FOREGROUND  # (L, K, J, I): the one slice of a picture
        assert training.shape == scored.shape
        assert np.array_equal(training, scored), f"{path.name}: {int((training != scored).sum())} pixels differ"


def test_grey_pixels_keep_their_grey_level_under_the_one_rule(tmp_path):
    """The rule leaves grey (red = green = blue) masks exact: every level 0..255, saved as RGB PNG."""
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(grey_levels(np.repeat(levels[..., None], 3, axis=-1)), levels)
    Image.fromarray(np.repeat(levels[..., None], 3, axis=-1)).save(tmp_path / "grey.png")
    assert np.array_equal(read_mask(tmp_path / "grey.png", "grey"), levels)
