"""Every 2-D input is completed with the third axis 3D Slicer shows for it, and its mask is written with that axis.

ITK (so Slicer) reads a 2-D NRRD, NIfTI, MetaImage or picture into a 3-D image whose third axis is +z, whatever the
in-plane directions or the k column a 2-D NIfTI's transform stores. A 2-D NIfTI whose sform has srow_z = (0, 0, -2)
or whose qform has qfac -1 kept that -z here, so its mask was written with another third direction than Slicer shows
for the input (and than the same image stored as NRRD or MetaImage). A single DICOM slice is a 3-D image for ITK,
with the right-handed normal, and keeps it.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 - fixtures
from io_test_helpers import write_dicom_series

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.readers import read_image

sitk = pytest.importorskip("SimpleITK")


def slicer_direction(path) -> np.ndarray:
    """(3, 3) the direction ITK gives ``path`` read as 3-D: a 2-D file's 2x2 block completed by +z, as Slicer does."""
    image = sitk.ReadImage(str(path))
    if image.GetDimension() == 3:
        return np.reshape(image.GetDirection(), (3, 3))
    out = np.eye(3)
    out[:2, :2] = np.reshape(image.GetDirection(), (2, 2))
    return out


def picture() -> np.ndarray:
    array = np.full((30, 40), -1000, np.int16)
    array[5:12, 3:9] = 800
    return array


def nifti_2d(path, array: np.ndarray, *, srows=None, qfac: float = 1.0) -> None:
    """A 2-D NIfTI-1 (dim[0] = 2) of int16 (J, I): with ``srows`` (3 x 4 IJK->RAS) an sform, else a qform of no
    rotation (quaternion 0) with ``qfac``; pixdim 0.5, 0.7, 2 mm, the plane at RAS z = 55."""
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 2, array.shape[1], array.shape[0], 1, 1, 1, 1, 1)
    struct.pack_into("<hhh", header, 68, 0, 4, 16)
    struct.pack_into("<8f", header, 76, qfac, 0.5, 0.7, 2.0, 1, 1, 1, 1)
    struct.pack_into("<fff", header, 108, 352.0, 1.0, 0.0)
    struct.pack_into("<hh", header, 252, 0 if srows else 1, 1 if srows else 0)
    struct.pack_into("<6f", header, 256, 0.0, 0.0, 0.0, 5.0, 7.0, 55.0)  # quaternion b, c, d; qoffset x, y, z
    for r, row in enumerate(srows or ()):
        struct.pack_into("<4f", header, 280 + 16 * r, *row)
    header[344:348] = b"n+1\0"
    path.write_bytes(bytes(header) + bytes(4) + np.ascontiguousarray(array, "<i2").tobytes())


def write_input(kind: str, folder):
    """A 2-D input of ``kind`` whose stored or right-handed third axis is -z; returns its path."""
    if kind == "nifti sform -z":
        path = folder / "image.nii"
        nifti_2d(path, picture(), srows=[(-0.5, 0, 0, 5), (0, 0.7, 0, 7), (0, 0, -2, 55)])
    elif kind == "nifti qform qfac -1":
        path = folder / "image.nii"
        nifti_2d(path, picture(), qfac=-1.0)
    elif kind == "metaimage row flipped":
        path = folder / "image.mha"
        image = sitk.GetImageFromArray(picture())
        image.SetDirection((1.0, 0.0, 0.0, -1.0))
        sitk.WriteImage(image, str(path))
    else:  # a PNG picture: the grid Slicer gives it, identity
        path = folder / "image.png"
        sitk.WriteImage(sitk.GetImageFromArray((picture() > 0).astype(np.uint8) * 200), str(path))
    return path


KINDS = ["nifti sform -z", "nifti qform qfac -1", "metaimage row flipped", "png"]


def test_a_2d_nifti_storing_minus_z_is_read_with_slicers_plus_z(tmp_path):
    path = write_input("nifti sform -z", tmp_path)
    geometry = read_image(path).geometry
    assert np.allclose(geometry.direction_matrix, slicer_direction(path))
    assert np.allclose(geometry.origin, (-5.0, -7.0, 55.0))  # the plane stays where the header puts it
    assert np.isclose(geometry.spacing[2], 2.0)  # the k column's length


@pytest.mark.parametrize("kind", KINDS)
def test_the_mask_of_a_2d_input_has_the_third_direction_slicer_shows_for_it(kind, tiny_folder, tmp_path, capsys):
    source = write_input(kind, tmp_path)
    out = tmp_path / "mask.seg.nrrd"
    code, _, err = run(["segment", source, "-o", out, "--model", tiny_folder, "--quiet"], capsys)
    assert code == 0, err
    mask = np.reshape(sitk.ReadImage(str(out)).GetDirection(), (3, 3))
    assert np.allclose(mask[:, 2], slicer_direction(source)[:, 2])
    assert np.allclose(mask, slicer_direction(source))  # in-plane axes too, for these axis-aligned planes


def test_a_single_dicom_slice_keeps_itks_right_handed_normal(tmp_path):
    """ITK reads one DICOM slice as a 3-D image: its third axis is the cross product, here -z, as Slicer shows."""
    array = np.zeros((1, 8, 10))
    array[0, 2:5, 3:7] = 50
    names = write_dicom_series(tmp_path, array, ImageGeometry((0.5, 0.5, 2.0), (0, 0, 0), np.diag([-1.0, 1.0, -1.0]),
                                                              (10, 8, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the single slice's unknown spacing
        geometry = read_image(tmp_path).geometry
    assert np.allclose(geometry.direction_matrix, slicer_direction(names[0]))
