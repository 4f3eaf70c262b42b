"""The third axis of a 2-D input, and so of the mask written for it, is the one 3D Slicer shows for that input.

Slicer loads a 2-D file through ITK, which completes its grid with a third axis of +z whatever the in-plane
directions; a 2-D MetaImage is read here the same way. A 2-D NRRD with a flipped or swapped in-plane axis gave the
right-handed cross product instead (-z for a flipped row axis), so its mask was written with another direction
than the input shows in Slicer, and than the mask of the same image stored as MetaImage.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 - fixtures

from SDSegLogic.io.readers import read_image

sitk = pytest.importorskip("SimpleITK")

IN_PLANE = {"row axis flipped": (1.0, 0.0, 0.0, -1.0), "axes swapped": (0.0, 1.0, 1.0, 0.0),
            "column axis flipped": (-1.0, 0.0, 0.0, 1.0)}


def slicer_direction(direction_2d) -> np.ndarray:
    """(3, 3) the direction ITK (so Slicer) gives a 2-D image read as 3-D: the 2x2 block, then +z."""
    out = np.eye(3)
    out[:2, :2] = np.reshape(direction_2d, (2, 2))
    return out


def write_picture(path, direction_2d):
    array = np.full((30, 40), -1000, np.int16)
    array[5:12, 3:9] = 800
    image = sitk.GetImageFromArray(array)
    image.SetDirection(direction_2d)
    image.SetSpacing((0.5, 0.7))
    image.SetOrigin((5.0, 7.0))
    sitk.WriteImage(image, str(path))


@pytest.mark.parametrize("name", sorted(IN_PLANE))
def test_nrrd_and_metaimage_of_one_2d_image_read_with_slicers_third_axis(name, tmp_path):
    found = {}
    for ending in ("nrrd", "mha"):
        write_picture(tmp_path / f"image.{ending}", IN_PLANE[name])
        with pytest.warns(UserWarning) if ending == "nrrd" else contextlib.nullcontext():  # no 'space'
            found[ending] = read_image(tmp_path / f"image.{ending}").geometry.direction_matrix
    assert np.allclose(found["nrrd"], slicer_direction(IN_PLANE[name]))
    assert np.allclose(found["nrrd"], found["mha"])


@pytest.mark.parametrize("name", sorted(IN_PLANE))
def test_the_mask_of_a_2d_nrrd_has_the_direction_slicer_shows_for_the_input(name, tiny_folder, tmp_path, capsys):
    source = tmp_path / "image.nrrd"
    write_picture(source, IN_PLANE[name])
    out = tmp_path / "mask.seg.nrrd"
    code, _, err = run(["segment", source, "-o", out, "--model", tiny_folder, "--quiet"], capsys)
    assert code == 0, err
    mask = sitk.ReadImage(str(out))
    assert np.allclose(np.reshape(mask.GetDirection(), (3, 3)), slicer_direction(IN_PLANE[name]))
    assert np.allclose(mask.GetOrigin()[:2], (5.0, 7.0)) and np.allclose(mask.GetSpacing()[:2], (0.5, 0.7))


def test_a_coronal_2d_nrrd_in_3d_space_keeps_its_normal(tmp_path):
    """A plane holding the z axis has no +z normal: it keeps the right-handed one, a valid grid."""
    path = tmp_path / "coronal.nrrd"
    header = ("NRRD0004\ntype: uint8\ndimension: 2\nspace: left-posterior-superior\nsizes: 4 3\n"
              "space directions: (1,0,0) (0,0,-2)\nspace origin: (0,10,0)\nencoding: raw\n\n")
    path.write_bytes(header.encode() + bytes(range(12)))
    direction = read_image(path).geometry.direction_matrix
    assert np.allclose(direction[:, 2], np.cross(direction[:, 0], direction[:, 1]))
    assert np.allclose(np.abs(direction[:, 2]), (0.0, 1.0, 0.0))

