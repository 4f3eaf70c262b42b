"""NRRD headers whose placement ITK (and so 3D Slicer) cannot settle are refused, not guessed.

Three cases, each checked against SimpleITK on the same file: ``axis mins`` on some spatial axes only (ITK: a
NaN origin on the others; before, 0 was silently used), ``spacings`` with a ``space`` but no ``space directions``
(ITK refuses; before, an axis-aligned LPS grid was assumed) and a finite spacing beside a direction vector on the
same axis (ITK refuses; before, the spacing was ignored). Headers ITK reads keep being read as ITK reads them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from SDSegLogic.errors import GeometryError
from SDSegLogic.io.readers import read_image

sitk = pytest.importorskip("SimpleITK")


def write_nrrd(path: Path, lines: Sequence[str]) -> Path:
    """A 4 x 3 x 2 uint8 raw NRRD with the given geometry lines."""
    header = "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 3 2\nencoding: raw\n" + "".join(f"{x}\n" for x in lines)
    path.write_bytes((header + "\n").encode("ascii") + np.arange(24, dtype=np.uint8).tobytes())
    return path


def _itk(path: Path):
    """SimpleITK's (spacing, origin), or None when it refuses the file."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        return None
    return image.GetSpacing(), image.GetOrigin()


@pytest.mark.parametrize("mins", ["10 nan 30", "10 20 nan"])
def test_axis_mins_missing_on_a_spatial_axis_is_refused(tmp_path, mins):
    path = write_nrrd(tmp_path / "partial.nrrd", ["spacings: 1 2 3", f"axis mins: {mins}"])
    assert np.isnan(_itk(path)[1]).any()  # ITK cannot place the grid along that axis
    with pytest.raises(GeometryError, match="axis mins.*every spatial axis"):
        read_image(path)


@pytest.mark.parametrize("lines", [
    ["space: left-posterior-superior", "spacings: 1 2 3"],
    ["space: right-anterior-superior", "spacings: 1 2 3", "space origin: (5,6,7)"],
    ["space dimension: 3", "spacings: 1 2 3"],
    ["space: right-anterior-superior", "spacings: nan 2 nan"],
])
def test_spacings_with_a_space_but_no_directions_is_refused(tmp_path, lines):
    path = write_nrrd(tmp_path / "spaced.nrrd", lines)
    assert _itk(path) is None
    with pytest.raises(GeometryError, match="space directions"):
        read_image(path)


def test_spacing_beside_a_direction_vector_is_refused(tmp_path):
    path = write_nrrd(tmp_path / "both.nrrd", ["space: right-anterior-superior",
                                               "space directions: (1,0,0) (0,2,0) (0,0,3)", "spacings: 5 5 5"])
    assert _itk(path) is None
    with pytest.raises(GeometryError, match="two step lengths"):
        read_image(path)


@pytest.mark.parametrize("lines", [
    ["spacings: 1 2 3", "axis mins: 10 20 30"],
    ["spacings: 1 2 3", "axis mins: nan 20 30"],  # teem's test fails: ITK places nothing, origin 0
    ["spacings: 1 2 3"],
    ["space: right-anterior-superior", "spacings: nan nan nan"],
    ["space: right-anterior-superior", "space directions: (1,0,0) (0,2,0) (0,0,3)", "spacings: nan nan nan"],
])
def test_headers_itk_reads_are_read_as_itk_reads_them(tmp_path, lines):
    path = write_nrrd(tmp_path / "fine.nrrd", lines)
    spacing, origin = _itk(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        geometry = read_image(path).geometry
    np.testing.assert_allclose(geometry.spacing, spacing)
    np.testing.assert_allclose(geometry.origin, origin, atol=1e-9)
