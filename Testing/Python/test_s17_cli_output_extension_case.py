"""Output names with upper-case endings (``CT.NII.GZ``, ``CT.MHA``): written in the format they name.

The format of an output is chosen by its ending, ignoring case (``sdseg segment`` accepts ``-o
CT.NII.GZ``). Each output is staged in a temporary file that SimpleITK writes by ITS ending: with the
user's upper-case ending SimpleITK refused a NIfTI name (an "unexpected" error, exit code 1) and wrote
a MetaImage as an empty ``.MHA`` beside a stray ``.mhd``/``.zraw`` pair (exit code 0). Every output
must read back as the segmented grid, and no other file may appear. The tiny model folder and CT crop
of cli_segment_fixtures.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.io import read_image, write_float_volume

sitk = pytest.importorskip("SimpleITK")


def _read_back(path, folder):
    """SimpleITK's reading of ``path`` (which itself picks a reader by the ending, in lower case only)."""
    folder.mkdir(exist_ok=True)
    copy = folder / path.name.lower()
    shutil.copyfile(path, copy)
    return sitk.ReadImage(str(copy))


@pytest.mark.parametrize("name", ["CT.NII.GZ", "CT.NII", "CT.MHA", "CT.Nrrd", "CT.SEG.NRRD"])
def test_an_upper_case_ending_writes_that_format(tiny_folder, crop, tmp_path, capsys, name):
    out = tmp_path / "out"
    out.mkdir()
    prob = out / name.replace("CT.SEG", "P").replace("CT", "P")
    code, _, err = run(["segment", crop, "-o", out / name, "--prob-map", prob, "--model", tiny_folder,
                        "--device", "cpu", "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted([name, prob.name]), "stray or missing files"
    source = sitk.ReadImage(str(crop))
    for path in (out / name, prob):
        image = _read_back(path, tmp_path / "read-back")
        assert image.GetSize() == source.GetSize()
        assert np.allclose(image.GetOrigin(), source.GetOrigin())
        assert np.allclose(image.GetSpacing(), source.GetSpacing())
    probabilities = sitk.GetArrayFromImage(_read_back(prob, tmp_path / "read-back"))
    assert probabilities.dtype == np.float32 and 0 <= probabilities.min() and probabilities.max() <= 1


def test_the_writer_api_takes_an_upper_case_metaimage_name(crop, tmp_path):
    image = sitk.ReadImage(str(crop))
    data = read_image(crop)
    volume = np.linspace(0, 1, data.array.size, dtype=np.float32).reshape(data.array.shape)
    target = tmp_path / "VOLUME.MHA"
    write_float_volume(target, volume, data.geometry)
    assert [p.name for p in tmp_path.iterdir()] == ["VOLUME.MHA"]  # no stray .mhd/.zraw pair
    back = _read_back(target, tmp_path / "read-back")
    assert back.GetSize() == image.GetSize()
    assert np.array_equal(sitk.GetArrayFromImage(back), volume)
