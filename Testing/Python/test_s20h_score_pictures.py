"""``sdseg score`` on pictures of another size: refused, never placed in a corner as a crop.

A PNG, JPEG, TIFF or BMP mask stores no position in space (every picture reads at the origin with
1 mm pixels), so a prediction made at another size than its reference (the paper's 256 x 256 network
output against the native 512 x 622 mask: the original's known defect of not resampling back) is
not a crop of it. Pictures are written with Pillow, as dataset tools write masks.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from SDSegLogic.cli import exit_code_for, main
from SDSegLogic.cli_score import score_files
from SDSegLogic.errors import GeometryError


def _masks():
    """(64, 80) reference mask and the same mask at half size (nearest neighbour), uint8 0/1."""
    big = np.zeros((64, 80), np.uint8)
    big[16:48, 20:60] = 1
    small = np.asarray(Image.fromarray(big).resize((40, 32), Image.NEAREST))
    return big, small


@pytest.mark.parametrize("ending", [".png", ".bmp", ".tif"])
def test_a_picture_of_another_size_is_refused_not_scored_in_a_corner(tmp_path, ending):
    big, small = _masks()
    Image.fromarray(big).save(tmp_path / f"truth{ending}")
    Image.fromarray(small).save(tmp_path / f"pred{ending}")
    with pytest.raises(GeometryError) as caught:
        score_files(str(tmp_path / f"pred{ending}"), str(tmp_path / f"truth{ending}"))
    message = str(caught.value)
    assert "40 x 32" in message and "80 x 64" in message  # both sizes, so the user sees which was resized
    assert f"pred{ending}" in message and f"truth{ending}" in message
    assert "nearest" in message  # the remedy


def test_a_picture_against_a_volume_file_of_another_size_is_refused(tmp_path):
    """An NRRD mask of a photo has the picture's grid (origin 0, 1 mm): a bigger or smaller one is no crop either."""
    import SimpleITK as sitk

    big, small = _masks()
    Image.fromarray(big).save(tmp_path / "truth.png")
    sitk.WriteImage(sitk.GetImageFromArray(small[None]), str(tmp_path / "pred.nrrd"))
    with pytest.raises(GeometryError, match="truth.png"):
        score_files(str(tmp_path / "pred.nrrd"), str(tmp_path / "truth.png"))


def test_the_cli_refuses_with_the_input_exit_code(tmp_path, capsys):
    big, small = _masks()
    Image.fromarray(big).save(tmp_path / "truth.png")
    Image.fromarray(small).save(tmp_path / "pred.png")
    code = main(["score", str(tmp_path / "pred.png"), str(tmp_path / "truth.png")])
    assert code == exit_code_for(GeometryError("")) != 0
    assert "Dice" not in capsys.readouterr().out


def test_pictures_of_one_size_are_still_scored_pixel_for_pixel(tmp_path):
    big, _ = _masks()
    shifted = np.roll(big, 4, axis=1)
    Image.fromarray(big).save(tmp_path / "truth.png")
    Image.fromarray(shifted).save(tmp_path / "pred.png")
    report = score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.png"))
    overlap = np.logical_and(big, shifted).sum()
    assert report["segments"][0]["dice"] == pytest.approx(2 * overlap / (big.sum() + shifted.sum()))


# ---------------------------------------------------------------------- units of a picture's scores
def _shifted_pair(folder, name="photo"):
    """A picture mask and its prediction shifted 4 pixels right, as PNGs in ``folder``."""
    big, _ = _masks()
    folder.mkdir(exist_ok=True)
    Image.fromarray(big).save(folder / f"{name}.png")
    return big, np.roll(big, 4, axis=1)


def test_a_picture_s_scores_say_they_are_in_pixels_not_mm(tmp_path, capsys):
    """A PNG has no pixel size: calling its 4-pixel HD "4.00 mm" and its area "mL" reports a unit it does not have."""
    big, shifted = _shifted_pair(tmp_path, "truth")
    Image.fromarray(shifted).save(tmp_path / "pred.png")
    report = score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.png"))
    assert report["grid"]["unit"] == "pixel"
    assert report["segments"][0]["hd_mm"] == pytest.approx(4.0)  # the value stays, in pixels
    assert any("pixel" in text for text in report["warnings"])
    assert main(["score", str(tmp_path / "pred.png"), str(tmp_path / "truth.png")]) == 0
    table = capsys.readouterr().out
    header = next(line for line in table.splitlines() if line.startswith("segment"))
    assert "mm" not in header and "mL" not in header and "HD95 px" in header
    row = next(line for line in table.splitlines() if line.startswith("label 1"))
    assert str(int(shifted.sum())) in row.split() and str(int(big.sum())) in row.split()  # areas as pixel counts


def test_a_volume_s_scores_stay_in_mm(tmp_path):
    import SimpleITK as sitk

    mask = np.zeros((3, 6, 7), np.uint8)
    mask[1, 2:4, 2:5] = 1
    image = sitk.GetImageFromArray(mask)
    image.SetSpacing((0.5, 0.5, 2.0))
    sitk.WriteImage(image, str(tmp_path / "a.nrrd"))
    report = score_files(str(tmp_path / "a.nrrd"), str(tmp_path / "a.nrrd"))
    assert report["grid"]["unit"] == "mm" and not report["warnings"]


def test_a_folder_of_pictures_says_pixels_once_in_the_table_and_in_every_csv_row(tmp_path, capsys):
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    for name in ("kvasir_001", "kvasir_002", "kvasir_003"):
        _, shifted = _shifted_pair(refs, name)
        preds.mkdir(exist_ok=True)
        Image.fromarray(shifted).save(preds / f"{name}.png")
    out = tmp_path / "scores.csv"
    assert main(["score", str(preds), str(refs), "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert len([line for line in table.splitlines() if "no pixel size" in line]) == 1  # one line, naming the cases
    header = next(line for line in table.splitlines() if line.startswith("segment"))
    assert "HD95 med px" in header and "mm" not in header
    import csv

    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 3 and all("pixel" in row["warnings"] for row in rows)
