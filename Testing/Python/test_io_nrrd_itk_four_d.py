"""A 4-D NRRD as ITK writes it (``space dimension: 4``, time as the fourth axis) reads frame by frame.

SimpleITK's ``JoinSeries`` (how 4-D CT and cine series are often assembled) writes the three space
axes with a zero time component and the time axis as ``(0,0,0,dt)``. Each frame must equal what
SimpleITK itself extracts, voxels and IJK-to-LPS matrix; before, such files were refused with
"space dimension 4 is not 2 or 3".
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.io import read_image

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _itk_matrix(image) -> np.ndarray:
    direction = np.reshape(image.GetDirection(), (3, 3))
    matrix = np.eye(4)
    matrix[:3, :3] = direction * np.asarray(image.GetSpacing())[None, :]
    matrix[:3, 3] = image.GetOrigin()
    return matrix


def test_itk_four_d_nrrd_frames_match_simpleitk(tmp_path):
    import SimpleITK as sitk

    angle = np.deg2rad(12.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    frames = []
    for t in range(3):
        array = (np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) * (t + 1)) - 50
        frame = sitk.GetImageFromArray(array)
        frame.SetSpacing((0.7, 0.9, 2.5))
        frame.SetOrigin((-12.0, 30.5, 7.25))
        frame.SetDirection(rotation.flatten().tolist())
        frames.append(frame)
    path = tmp_path / "cine.nrrd"
    sitk.WriteImage(sitk.JoinSeries(frames, 0.0, 0.04), str(path))
    assert "space dimension: 4" in path.read_bytes()[:1000].decode("latin-1")

    with pytest.raises(Exception, match="3 frames"):
        read_image(path)  # a frame must be chosen, as for any 4-D file
    for t, expected in enumerate(frames):
        data = read_image(path, frame=t)
        assert np.array_equal(data.array, sitk.GetArrayFromImage(expected).astype(np.float32))
        assert np.allclose(data.geometry.ijk_to_lps(), _itk_matrix(expected), atol=1e-9)
