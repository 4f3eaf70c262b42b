"""NRRD files in a patient space with time (``space: left-posterior-superior-time`` and its RAS / LAS kin).

ITK's NrrdImageIO reads such a file as a 4-D grid (three space axes, one time axis) and converts none of its
coordinates to LPS (``itkNrrdImageIO.cxx``: only the 3-D patient spaces are converted); 3D Slicer's sequence
reader (``vtkTeemNRRDReader``) refuses four domain axes. So an LPS-time file lands where it says in ITK, and is
read here frame by frame with ITK's geometry; a RAS-time or LAS-time file is placed mirrored by ITK, and is
refused with a message that says so and how to re-save it. Before, all of them were refused as a space that "does
not say which way the patient lies", which is untrue. The files are written byte by byte (header text + raw
voxels) and checked against SimpleITK's own reading.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: (T, K, J, I) int16 voxels: every voxel and frame its own value
VOXELS = (np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5) * 3) - 40
#: a rotated grid: spacing 0.5, 0.7, 2.0 mm along rotated axes
ROTATION = np.array([[0.8, -0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
STEPS = (0.5, 0.7, 2.0)
ORIGIN = (10.0, -20.0, 30.0)


def _nrrd(path, space: str, *, time_as_list: bool = False, three: bool = False):
    """A 4-D NRRD of :data:`VOXELS` (time the slowest axis) with ``space``; the time axis a domain axis with
    direction (0,0,0,1.5), or with ``time_as_list`` a list axis with direction ``none``; ``three``: 3-component
    space vectors and origin."""
    vectors = [ROTATION[:, c] * STEPS[c] for c in range(3)]
    width = 3 if three else 4
    text = [" (" + ",".join(f"{v:.17g}" for v in list(vec) + [0.0] * (width - 3)) + ")" for vec in vectors]
    text.append(" none" if time_as_list else " (0,0,0,1.5)")
    origin = ",".join(f"{v:g}" for v in list(ORIGIN) + [0.0] * (width - 3))
    header = (f"NRRD0004\ntype: short\ndimension: 4\nspace: {space}\nsizes: 5 4 3 2\n"
              f"space directions:{''.join(text)}\n"
              f"kinds: domain domain domain {'list' if time_as_list else 'time'}\n"
              f"endian: little\nencoding: raw\nspace origin: ({origin})\n\n")
    path.write_bytes(header.encode("ascii") + VOXELS.astype("<i2").tobytes())
    return path


def _lps_matrix(flip) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag(flip) @ ROTATION @ np.diag(STEPS)
    matrix[:3, 3] = np.diag(flip) @ np.asarray(ORIGIN)
    return matrix


@pytest.mark.parametrize("space", ["left-posterior-superior-time", "LPST"])
def test_an_lps_time_nrrd_reads_frame_by_frame_where_itk_places_it(tmp_path, space):
    path = _nrrd(tmp_path / "cine.nrrd", space)
    itk = sitk.ReadImage(str(path))
    assert itk.GetDimension() == 4
    itk_origin = np.asarray(itk.GetOrigin()[:3])
    with pytest.raises(InputError, match="2 frames"):
        read_image(path)
    for t in range(2):
        data = read_image(path, frame=t)
        np.testing.assert_array_equal(data.array, VOXELS[t].astype(np.float32))
        np.testing.assert_allclose(data.array, sitk.GetArrayFromImage(itk)[t])
        np.testing.assert_allclose(data.geometry.ijk_to_lps(), _lps_matrix([1.0, 1.0, 1.0]), atol=1e-9)
        np.testing.assert_allclose(data.geometry.origin, itk_origin, atol=1e-9)


@pytest.mark.parametrize("space, mirrored, plain", [
    ("right-anterior-superior-time", "left-right and front-back", "right-anterior-superior"),
    ("left-anterior-superior-time", "front-back", "left-anterior-superior"),
    ("RAST", "left-right and front-back", "right-anterior-superior"),
])
def test_a_ras_or_las_time_nrrd_is_refused_saying_why_and_how_to_resave_it(tmp_path, space, mirrored, plain):
    path = _nrrd(tmp_path / "cine.nrrd", space)
    # ITK really does leave the coordinates unconverted: the origin as written, not flipped to LPS
    np.testing.assert_allclose(sitk.ReadImage(str(path)).GetOrigin()[:3], ORIGIN)
    with pytest.raises(InputError) as caught:
        read_image(path, frame=0)
    message = str(caught.value)
    assert "does not say which way the patient lies" not in message
    assert str(path) in message and repr(space) in message and f"mirrored {mirrored}" in message
    assert f"'space: {plain}'" in message and "list" in message


def test_the_resaved_file_the_message_asks_for_reads_in_lps_as_itk_reads_it(tmp_path):
    """The remedy (3-D RAS space, time as a list axis) gives a file both ITK and SDSeg place in LPS, flipped."""
    path = _nrrd(tmp_path / "cine.nrrd", "right-anterior-superior", time_as_list=True, three=True)
    itk = sitk.ReadImage(str(path))
    for t in range(2):
        data = read_image(path, frame=t)
        np.testing.assert_array_equal(data.array, VOXELS[t].astype(np.float32))
        np.testing.assert_allclose(data.geometry.ijk_to_lps(), _lps_matrix([-1.0, -1.0, 1.0]), atol=1e-9)
        np.testing.assert_allclose(data.geometry.origin, itk.GetOrigin(), atol=1e-9)


def test_a_time_space_without_a_time_axis_is_refused_as_itk_refuses_it(tmp_path):
    """Three domain axes in a 4-D space (ITK: 'number of domain axes ... doesn't match dimension of space')."""
    path = _nrrd(tmp_path / "cine.nrrd", "left-posterior-superior-time", time_as_list=True)
    with pytest.raises(RuntimeError):
        sitk.ReadImage(str(path))
    with pytest.raises(InputError, match="three in space and one in time"):
        read_image(path, frame=0)
