"""The mistakes a newcomer makes while following the README get an error that names the way out.

Each test repeats one command a person would type after reading README.md (a ``--series`` UID
copied from the README's placeholder, a folder of NRRD scans given as if it were one input, a
reference folder that does not exist) on real files, and checks that the error names what is
there and what to do instead, not only what went wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 (fixtures)
from io_test_helpers import geometry_for, marker_array, sitk_image, write_dicom_series
from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

SERIES_UID = "1.2.826.0.1.3680043.2.1125.77"


def test_unknown_series_names_the_series_the_folder_holds(tmp_path):
    """README: ``--series 1.2.840...``; a UID that is not there must be answered with the ones that are."""
    folder = tmp_path / "dicom_folder"
    folder.mkdir()
    write_dicom_series(folder, marker_array(), geometry_for(np.eye(3)), series_uid=SERIES_UID)
    assert read_image(folder).array.shape == marker_array().shape  # a readable series, found without --series

    with pytest.raises(InputError) as caught:
        read_image(folder, series="1.2.840.")
    message = str(caught.value)
    assert "1.2.840." in message  # the value given
    assert SERIES_UID in message, f"the error does not name the series the folder holds: {message}"


def test_folder_of_scans_names_them_and_how_to_segment_them(tmp_path, tiny_folder, capsys):  # noqa: F811
    """``sdseg segment scans/ -o x.seg.nrrd`` with NRRD scans in ``scans/``: say to give the files."""
    sitk = pytest.importorskip("SimpleITK")
    scans = tmp_path / "scans"
    scans.mkdir()
    geometry = geometry_for(np.eye(3))
    for name in ("a.nrrd", "b.nrrd"):
        sitk.WriteImage(sitk_image(marker_array(), geometry), str(scans / name))
    assert read_image(scans / "a.nrrd").array.shape == marker_array().shape  # each file alone is a valid input

    code, _, err = run(["segment", scans, "-o", tmp_path / "x.seg.nrrd", "--model", tiny_folder, "--device", "cpu",
                        "--quiet"], capsys)
    assert code == 3
    assert "a.nrrd" in err, f"the error does not name the scans the folder holds: {err}"
    assert not (tmp_path / "x.seg.nrrd").exists()


def test_score_against_a_missing_reference_folder_says_it_is_missing(tmp_path, capsys):
    """``sdseg score results/ labels/`` with a mistyped ``labels/``: the error must say the folder is not there."""
    results = tmp_path / "results"
    results.mkdir()
    sitk = pytest.importorskip("SimpleITK")
    labels = (marker_array() > 0).astype(np.uint8)
    sitk.WriteImage(sitk_image(labels, geometry_for(np.eye(3))), str(results / "ct001.nrrd"))
    missing = tmp_path / "labels"

    code, _, err = run(["score", results, missing], capsys)
    assert code != 0
    assert str(missing) in err
    assert any(words in err.lower() for words in ("no such", "does not exist", "not found")), \
        f"the error does not say that {missing} is missing: {err}"
