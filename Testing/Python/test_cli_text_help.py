"""``sdseg ... --help`` says what the commands do: each statement checked against the behaviour it describes.

The numbers and names a help text states (Dice of empty segments, the ``HD95 n`` column, which
files pair by name, what ``--json`` prints, how the DICOM series is chosen, what ``--nan-policy fill``
fills with, the environment variables error messages tell people to set) are taken from a real
run here, then looked up in the help.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from io_test_helpers import geometry_for, marker_array, write_dicom_series
from SDSegLogic.cli import main
from SDSegLogic.cli_score import score_files
from SDSegLogic.cli_score_batch import batch_text, score_folders
from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry
from test_score import write_labelmap, write_seg_nrrd
from test_score_pairing import write_dicom_seg


def _help(capsys, *command: str) -> str:
    """The help of ``sdseg COMMAND``, its whitespace collapsed (argparse wraps option help to the terminal)."""
    assert main([*command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.fixture()
def grid() -> ImageGeometry:
    return ImageGeometry((0.8, 1.3, 2.5), (-20.0, 15.5, 3.25), np.eye(3), (14, 12, 10))


@pytest.fixture()
def labels(grid) -> np.ndarray:
    out = np.zeros(grid.array_shape, np.uint8)
    out[3:6, 4:8, 5:9] = 1
    return out


def test_score_help_states_the_empty_segment_rule(tmp_path, grid, labels, capsys):
    pred = write_labelmap(tmp_path / "pred.nrrd", labels, grid)
    ref = write_labelmap(tmp_path / "ref.nrrd", labels, grid)
    both, one = score_files(str(pred), str(ref), ["7=7", "1=7"])["segments"]  # label 7: in neither file
    assert both["distance_note"] == "both empty" and one["distance_note"] == "reference empty"
    text = _help(capsys, "score")
    assert f"empty in both files scores Dice = IoU = {both['dice']:g}" in text and both["iou"] == both["dice"]
    assert f"empty in one file only, {one['dice']:g}" in text and one["iou"] == one["dice"]
    assert both["hd95_mm"] is None and "undefined" in text  # and no distances


def test_score_help_explains_the_hd95_n_column(tmp_path, grid, labels, capsys):
    for case, prediction in (("a", labels), ("b", np.zeros_like(labels))):  # case b: nothing predicted
        (tmp_path / "pred").mkdir(exist_ok=True)
        (tmp_path / "ref").mkdir(exist_ok=True)
        write_labelmap(tmp_path / "pred" / f"{case}.nrrd", prediction, grid)
        write_labelmap(tmp_path / "ref" / f"{case}.nrrd", labels, grid)
    table = batch_text(score_folders(tmp_path / "pred", tmp_path / "ref"))
    column = re.search(r"HD95 n", table)
    assert column is not None and re.search(r"\b1/2\b", table), table  # one of two cases has an HD95
    text = _help(capsys, "score")
    assert f"'{column.group(0)}' counts the cases that have an HD95, i.e. where both masks are non-empty" in text


def test_score_help_states_the_two_dimensional_contour_rule(capsys):
    from SDSegLogic.overlap_metrics import surface_voxels

    square = np.zeros((1, 6, 6), bool)
    square[0, 1:5, 1:5] = True
    in_plane = surface_voxels(square, axes=(1, 2))  # what a one-slice image uses: its contour, 12 of 16 pixels
    assert in_plane.sum() == 12 and surface_voxels(square).sum() == 16
    assert "in a one-slice image (a picture, a single slice) surfaces are the in-plane contours" in _help(capsys, "score")


def test_match_help_names_every_file_kind_that_pairs_by_name(tmp_path, grid, capsys):
    liver = np.zeros(grid.array_shape, bool)
    liver[2:6, 3:8, 4:9] = True
    spleen = np.zeros_like(liver)
    spleen[6:9, 2:5, 2:6] = True
    seg = write_dicom_seg(tmp_path / "pred.seg.dcm", grid, [liver, spleen], ["liver", "spleen"], [1, 2])
    layers = (spleen * 1 + liver * 2).astype(np.uint8)[None]  # the same segments under swapped label values
    ref = write_seg_nrrd(tmp_path / "ref.seg.nrrd", layers, grid, [("spleen", 1, 0), ("liver", 2, 0)])
    report = score_files(str(seg), str(ref))
    assert [(r["prediction_segment"], r["reference_segment"], r["dice"]) for r in report["segments"]] == [
        ("liver", "liver", 1.0), ("spleen", "spleen", 1.0)]  # paired by name, not by value
    assert "auto = by name when both files name their segments (.seg.nrrd, DICOM SEG)" in _help(capsys, "score")


@pytest.mark.parametrize("command", [["score", "PRED", "REF"], ["models", "list"]])
def test_json_help_says_what_json_prints(tmp_path, grid, labels, capsys, command):
    pred = write_labelmap(tmp_path / "pred.nrrd", labels, grid)
    argv = [{"PRED": str(pred), "REF": str(pred)}.get(a, a) for a in command]
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    json.loads(out)  # one JSON document ...
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[0])  # ... over several lines: not one object per line
    text = _help(capsys, *[a for a in command if a not in ("PRED", "REF")])
    assert "--json machine-readable output on stdout: one JSON document" in text and "per line" not in text
    assert "one JSON event per line" in _help(capsys, "segment")


def test_series_help_states_how_the_series_is_chosen(tmp_path, capsys):
    grid = geometry_for(np.eye(3), shape_kji=(3, 10, 12))
    first = write_dicom_series(tmp_path, marker_array()[:3], grid, series_uid="1.2.826.0.1.3680043.2.1125.31",
                               prefix="a")
    write_dicom_series(tmp_path, marker_array()[:3], grid, series_uid="1.2.826.0.1.3680043.2.1125.32", prefix="b")
    from SDSegLogic.io import read_image

    with pytest.raises(InputError, match="share the largest slice count"):
        read_image(tmp_path)  # a tie
    assert read_image(Path(first[0])).array.shape == (3, 10, 12)  # the named file's series
    text = _help(capsys, "segment")
    assert "default: the series of the file named, else the series with the most slices; a tie is refused" in text


def test_nan_policy_help_states_the_fill_value(capsys):
    from SDSegLogic.model_card import IntensityMapping
    from SDSegLogic.preprocessing import fill_value

    image = np.array([np.nan, -3.5, 7.0], np.float32)
    assert fill_value(IntensityMapping(kind="minmax"), image) == -3.5  # no window: the finite minimum
    assert fill_value(IntensityMapping(kind="window", low=-125, high=275), image) == -125
    text = _help(capsys, "segment")
    assert "window minimum (models without a window: the image's finite minimum; colour: 0)" in text


def test_the_environment_list_names_every_variable_a_message_asks_for(tmp_path, grid, labels, monkeypatch, capsys):
    from SDSegLogic.io import read_image

    path = write_labelmap(tmp_path / "big.nrrd", labels, grid)
    monkeypatch.setenv("SDSEG_MAX_BYTES", "64")
    with pytest.raises(InputError) as caught:
        read_image(path)
    named = set(re.findall(r"SDSEG_[A-Z_]+", str(caught.value)))
    assert named, str(caught.value)
    environment = _help(capsys).split("environment:")[1]
    assert all(name in environment for name in named), (named, environment)


def test_pair_help_says_that_plus_joins_segments(tmp_path, grid, labels, capsys):
    two = labels.copy()
    two[7:9, 2:5, 2:6] = 2
    pred = write_labelmap(tmp_path / "pred.nrrd", two, grid)
    ref = write_labelmap(tmp_path / "ref.nrrd", (two > 0).astype(np.uint8), grid)  # one label for both regions
    (row,) = score_files(str(pred), str(ref), ["1+2=1"])["segments"]
    assert row["prediction_values"] == [1, 2] and row["dice"] == 1.0  # the union of 1 and 2 against 1
    assert "A+B joins segments into one" in _help(capsys, "score")


@pytest.mark.parametrize("extension", ["tif", "bmp", "mha"])
def test_segment_description_names_the_formats_it_reads(tmp_path, extension, capsys):
    import SimpleITK as sitk

    from SDSegLogic.io import read_image

    path = tmp_path / f"picture.{extension}"
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(20 * 24, dtype=np.uint8).reshape(20, 24)), str(path))
    assert read_image(path).array.shape == (1, 20, 24)
    names = {"tif": ("TIFF",), "bmp": ("BMP",), "mha": ("MHA", "MetaImage")}
    formats = re.search(r"Segment images \(([^)]*)\)", _help(capsys, "segment")).group(1)
    assert any(name in formats for name in names[extension]), formats
