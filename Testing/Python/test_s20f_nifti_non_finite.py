"""NaN/infinite voxels of a NIfTI file are not segmented without a word.

ITK's NIfTI library (and so 3D Slicer) reads them as 0, and the reader matches it; the NaN policy,
which refuses them in NRRD and MetaImage files, then never sees them. A CT with a NaN patch was
segmented as if the patch were 0 HU (soft tissue), exit code 0 and no warning.
"""

from __future__ import annotations

import numpy as np
import pytest
from cli_segment_fixtures import crop, events, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")


def _with_non_finite(crop, path):
    """The crop as float32 NIfTI with a NaN at (k, j, i) = (1, 2, 3) and +inf at (2, 0, 0)."""
    image = sitk.ReadImage(str(crop))
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    array[1, 2, 3] = np.nan
    array[2, 0, 0] = np.inf
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    sitk.WriteImage(out, str(path))
    return path


@pytest.mark.parametrize("name", ["nan.nii", "nan.nii.gz"])
def test_reading_a_nifti_with_nan_warns_with_count_and_first_index(crop, tmp_path, name):
    path = _with_non_finite(crop, tmp_path / name)
    with pytest.warns(UserWarning, match=r"2 voxel value\(s\) are NaN or infinite \(first at index \(k, j, i\) = \(1, 2, 3\)\)"):
        data = read_image(path)
    assert np.all(np.isfinite(data.array)) and data.array[1, 2, 3] == 0  # still as 3D Slicer shows it
    assert any(name in w and "NaN or infinite" in w for w in data.metadata["warnings"])


def test_segmenting_a_nifti_with_nan_reports_it(tiny_folder, crop, tmp_path, capsys):
    path = _with_non_finite(crop, tmp_path / "nan.nii.gz")
    code, out, _ = run(["segment", path, "-o", tmp_path / "o.seg.nrrd", "--model", tiny_folder, "--json"], capsys)
    assert code == 0
    done = next(e for e in events(out) if e["event"] == "volume_done")
    assert any("NaN or infinite" in w and "read as 0" in w for w in done["warnings"]), done["warnings"]


def test_a_finite_nifti_gets_no_such_warning(crop, tmp_path):
    image = sitk.Cast(sitk.ReadImage(str(crop)), sitk.sitkFloat32)
    sitk.WriteImage(image, str(tmp_path / "ok.nii"))
    assert not any("NaN" in w for w in read_image(tmp_path / "ok.nii").metadata["warnings"])
