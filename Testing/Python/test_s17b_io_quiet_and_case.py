"""Inputs named in upper case read like their lower-case twins; an empty DICOM folder prints only our message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_test_helpers import make_model_folder
from io_test_helpers import write_dicom_series

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")
REPO = Path(__file__).resolve().parents[2]


def _volume() -> "sitk.Image":
    array = (np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) * 7 - 300)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.5, 0.7, 2.0))
    image.SetOrigin((10.0, -4.0, 3.0))
    return image


@pytest.mark.parametrize("ending", [".mha", ".mhd", ".nii.gz", ".nii", ".nrrd"])
def test_upper_case_volume_endings_read_like_lower_case(tmp_path, ending):
    """IN.MHA (SimpleITK picks its reader by a lower-case ending) reads the same voxels and grid as in.mha."""
    lower = tmp_path / "lower"
    upper = tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    sitk.WriteImage(_volume(), str(lower / f"in{ending}"))
    sitk.WriteImage(_volume(), str(upper / f"in{ending}"))
    os.rename(upper / f"in{ending}", upper / f"IN{ending.upper()}")  # a .mhd keeps its (lower-case) .raw beside it
    want = read_image(lower / f"in{ending}")
    got = read_image(upper / f"IN{ending.upper()}")
    np.testing.assert_array_equal(got.array, want.array)
    np.testing.assert_allclose(got.geometry.ijk_to_lps(), want.geometry.ijk_to_lps())


@pytest.mark.parametrize("ending", [".png", ".jpg", ".tif", ".bmp"])
def test_upper_case_picture_endings_read_like_lower_case(tmp_path, ending):
    rng = np.random.default_rng(3)
    picture = sitk.GetImageFromArray(rng.integers(0, 255, (12, 9, 3), dtype=np.uint8), isVector=True)
    sitk.WriteImage(picture, str(tmp_path / f"p{ending}"))
    sitk.WriteImage(picture, str(tmp_path / f"Q{ending.upper()}"))
    want, got = read_image(tmp_path / f"p{ending}"), read_image(tmp_path / f"Q{ending.upper()}")
    assert got.is_rgb and got.modality == want.modality == "photo"
    np.testing.assert_array_equal(got.array, want.array)


def test_upper_case_dicom_file_reads_its_series(tmp_path):
    geometry = ImageGeometry((0.8, 0.8, 2.5), (0.0, 0.0, 0.0), np.eye(3), (6, 5, 3))
    array = np.arange(3 * 5 * 6, dtype=np.int16).reshape(3, 5, 6)
    write_dicom_series(tmp_path, array, geometry)
    files = sorted(tmp_path.iterdir())
    for f in files:
        f.rename(f.with_name(f.stem.upper() + ".DCM"))
    got = read_image(sorted(tmp_path.iterdir())[0])
    assert got.array.shape == array.shape


@pytest.mark.parametrize("flag", ["--quiet", "--json"])
def test_empty_dicom_folder_prints_no_raw_itk_warning(tmp_path, flag):
    """GDCM's "WARNING: ... No Series were found" (written to the C stderr) no longer precedes our message."""
    model = make_model_folder(tmp_path / "model" / "tiny-test")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not DICOM\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "SDSegLogic", "segment", str(empty), "-o",
                           str(tmp_path / "out.seg.nrrd"), "--model", str(model), flag],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3
    assert "no DICOM series found" in proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr and "No Series" not in proc.stderr, proc.stderr
