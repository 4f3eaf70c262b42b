"""A picture that uses only the bottom of the 0..255 scale of a colour model is reported, not silently segmented.

A 12-bit gray picture saved as 16-bit PNG (values 0..4095) is read as 0..65535 scaled to 0..255,
i.e. 0..16: the ``rgb`` model (``x / 255 * 2 - 1``) saw an almost black picture, and ``sdseg
segment`` exited 0 with no warning. The same picture in 8 bits gets no such warning.
"""

from __future__ import annotations

import numpy as np
import pytest
from cli_segment_fixtures import events, isolated_home, run  # noqa: F401 (fixtures)
from engine_test_helpers import tiny_card, tiny_model

from SDSegLogic.model_card import IntensityMapping
from SDSegLogic.model_folder import save_model_folder

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """A tiny colour (3-channel, ``rgb`` intensity) photo model folder."""
    card = tiny_card(model_id="tiny-photo").replace(modality="photo", input_channels=3,
                                                    intensity=IntensityMapping("rgb"))
    return save_model_folder(tmp_path_factory.mktemp("model") / "tiny-photo", tiny_model(), card)


def _picture() -> np.ndarray:
    """(37, 53) values 0..4095 (12 bits) with a bright square."""
    picture = np.random.default_rng(0).integers(0, 1500, (37, 53))
    picture[8:20, 10:30] = 4095
    return picture


def _warnings(photo_folder, path, tmp_path, capsys):
    code, out, err = run(["segment", path, "-o", tmp_path / f"{path.stem}.seg.nrrd", "--model", photo_folder, "--json"],
                         capsys)
    assert code == 0, err
    return next(e for e in events(out) if e["event"] == "volume_done")["warnings"]


def test_a_12_bit_picture_in_16_bits_is_reported(photo_folder, tmp_path, capsys):
    path = tmp_path / "xray12.png"
    Image.fromarray(_picture().astype(np.uint16)).save(path)
    found = [w for w in _warnings(photo_folder, path, tmp_path, capsys) if "nearly black" in w]
    assert len(found) == 1 and "xray12.png" in found[0] and "0..255" in found[0], found


def test_a_float_picture_in_0_to_1_is_reported(photo_folder, tmp_path, capsys):
    path = tmp_path / "unit.tif"
    Image.fromarray((_picture() / 4095.0).astype(np.float32)).save(path)
    assert any("nearly black" in w for w in _warnings(photo_folder, path, tmp_path, capsys))


def test_the_same_picture_in_8_bits_is_not_reported(photo_folder, tmp_path, capsys):
    path = tmp_path / "xray8.png"
    Image.fromarray((_picture() * 255 // 4095).astype(np.uint8)).save(path)
    assert not any("nearly black" in w for w in _warnings(photo_folder, path, tmp_path, capsys))
