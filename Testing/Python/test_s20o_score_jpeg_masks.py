"""``sdseg score`` with JPEG masks (Kvasir-SEG ships its masks as JPEG; CVC-ClinicDB's are often converted to it).

JPEG is lossy: a black-and-white mask saved at quality 75 comes back with values such as 1..20 and 235..254 near
its edges. Read as labels, that noise became extra segments, scored as misses or listed as unpaired. A JPEG mask
is read as binary (foreground where the grey level is above 127, as the training's Kvasir loader reads masks), and
a folder of JPEG masks pairs its cases. Masks are written with Pillow; Dice is checked against numpy's.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from SDSegLogic.cli import main
from SDSegLogic.cli_score import score_files
from SDSegLogic.cli_score_batch import score_folders
from SDSegLogic.errors import InputError


def _blob(shift: int = 0) -> np.ndarray:
    """(96, 120) uint8 0/255 polyp-like ellipse, ``shift`` pixels to the right."""
    rows, cols = np.mgrid[:96, :120]
    inside = ((rows - 45) / 30.0) ** 2 + ((cols - 58 - shift) / 38.0) ** 2 < 1
    return np.where(inside, 255, 0).astype(np.uint8)


def _save_jpeg(array: np.ndarray, path, rgb: bool = True) -> np.ndarray:
    """Save as JPEG quality 75 (RGB, as Kvasir's masks, or grey); return the decoded grey levels (H, W) uint8."""
    picture = Image.fromarray(np.stack([array] * 3, axis=-1) if rgb else array)
    picture.save(path, quality=75)
    return np.asarray(Image.open(path).convert("L"))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("rgb", [True, False])
def test_a_jpeg_reference_mask_scores_as_binary_not_its_compression_noise(tmp_path, rgb):
    prediction = _blob(shift=6)
    Image.fromarray(prediction).save(tmp_path / "pred.png")
    decoded = _save_jpeg(_blob(), tmp_path / "truth.jpg", rgb)
    noise = np.unique(decoded[(decoded > 0) & (decoded < 255)])
    assert noise.size > 5  # the file really holds compression noise
    report = score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.jpg"))
    assert [s["reference_segment"] for s in report["segments"]] == ["label 255"]
    assert report["reference_only"] == [] and report["prediction_only"] == []
    expected = _dice(prediction > 0, decoded > 127)
    assert report["segments"][0]["dice"] == pytest.approx(expected)
    assert any("JPEG" in text and "127" in text for text in report["warnings"])


def test_a_folder_of_jpeg_masks_pairs_its_cases(tmp_path, capsys):
    preds, refs = tmp_path / "results", tmp_path / "masks"
    preds.mkdir()
    refs.mkdir()
    expected = {}
    for n, (name, ending) in enumerate([("cju0qkwl35piu0993l0dewei2", ".jpg"), ("cju0roawvklrq0799vmjorwfv", ".jpeg")]):
        prediction = _blob(shift=3 * (n + 1))
        Image.fromarray(prediction).save(preds / f"{name}.png")
        decoded = _save_jpeg(_blob(), refs / f"{name}{ending}")
        expected[name] = _dice(prediction > 0, decoded > 127)
    result = score_folders(preds, refs)
    assert result["first_error_code"] == 0
    assert result["prediction_only"] == [] and result["reference_only"] == []
    assert {case["case"]: case["segments"][0]["dice"] for case in result["cases"]} == pytest.approx(expected)
    assert main(["score", str(preds), str(refs)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "JPEG mask" in line]
    assert len(notes) == 1 and "cases" in notes[0]  # one line for the test set, not one per case


def test_two_jpeg_masks_give_the_note_once(tmp_path):
    _save_jpeg(_blob(), tmp_path / "truth.jpg")
    _save_jpeg(_blob(shift=4), tmp_path / "pred.jpg")
    report = score_files(str(tmp_path / "pred.jpg"), str(tmp_path / "truth.jpg"))
    assert len([text for text in report["warnings"] if "JPEG" in text and "127" in text]) == 1


def test_a_jpeg_prediction_against_a_png_reference(tmp_path):
    reference = _blob()
    Image.fromarray(reference).save(tmp_path / "truth.png")
    decoded = _save_jpeg(_blob(shift=5), tmp_path / "pred.jpg", rgb=False)
    report = score_files(str(tmp_path / "pred.jpg"), str(tmp_path / "truth.png"))
    assert len(report["segments"]) == 1
    assert report["segments"][0]["dice"] == pytest.approx(_dice(decoded > 127, reference > 0))


def test_a_multi_label_jpeg_is_refused_naming_the_file(tmp_path):
    labels = np.zeros((96, 120), np.uint8)
    labels[10:40, 10:50] = 85
    labels[50:90, 60:110] = 170
    _save_jpeg(labels, tmp_path / "truth.jpg", rgb=False)
    Image.fromarray(labels).save(tmp_path / "pred.png")
    with pytest.raises(InputError, match=r"truth\.jpg.*grey region.*PNG"):
        score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.jpg"))


def test_a_colour_coded_jpeg_is_refused(tmp_path):
    colours = np.zeros((96, 120, 3), np.uint8)
    colours[_blob() > 0] = (255, 0, 0)
    Image.fromarray(colours).save(tmp_path / "truth.jpg", quality=75)
    Image.fromarray(_blob()).save(tmp_path / "pred.png")
    with pytest.raises(InputError, match=r"truth\.jpg.*colour"):
        score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.jpg"))


def test_a_jpeg_of_small_labels_is_refused_not_read_as_empty(tmp_path):
    _save_jpeg(_blob() // 255, tmp_path / "truth.jpg", rgb=False)  # labels 0/1: nothing above 127
    Image.fromarray(_blob() // 255).save(tmp_path / "pred.png")
    with pytest.raises(InputError, match=r"truth\.jpg.*none above 127"):
        score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.jpg"))
