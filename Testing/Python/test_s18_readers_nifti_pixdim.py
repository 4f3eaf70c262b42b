"""A NIfTI whose sform axis lengths contradict its pixdim (or whose pixdim is negative) is refused saying so.

ITK (and so 3D Slicer) takes the voxel size from pixdim and the axes from the sform ("unexpected
scales in sform"), nibabel takes both from the sform: the image's size is ambiguous. The engine
refused such a file, but told the user that "SimpleITK's reading of the NIfTI transform is not on the
reference grid" and to "resample it onto the reference image", which names neither field nor fix. A
negative pixdim with a sform is the same ambiguity: ITK mirrors that axis against the sform.
"""

from __future__ import annotations

import pytest
from test_s18_readers_nifti_units import _UNITS, _VOLUME, _ijk_to_ras, _nifti

from SDSegLogic.errors import GeometryError
from SDSegLogic.io import read_image


def _with_pixdim(path, pixdim):
    """Overwrite pixdim[1..3] (float32 at byte 80) and set qform_code 0, so that only the sform places the image."""
    import struct

    raw = bytearray(path.read_bytes())
    struct.pack_into("<3f", raw, 80, *pixdim)
    struct.pack_into("<h", raw, 252, 0)
    path.write_bytes(bytes(raw))
    return path


def test_sform_scales_that_contradict_pixdim_are_refused_naming_both(tmp_path):
    path = _nifti(tmp_path / "scales.nii", _VOLUME, _ijk_to_ras((0.8, 0.9, 2.5), (1.0, 2.0, 3.0)), _UNITS["millimetre"])
    _with_pixdim(path, (1.0, 1.0, 1.0))
    with pytest.raises(GeometryError) as caught:
        read_image(path)
    message = str(caught.value)
    assert str(path) in message and "pixdim" in message and "sform" in message
    assert "[1.0, 1.0, 1.0]" in message and "0.8" in message
    assert "reference grid" not in message and "set_zooms" in message


def test_sform_scales_that_match_pixdim_read(tmp_path):
    path = _nifti(tmp_path / "scales.nii", _VOLUME, _ijk_to_ras((0.8, 0.9, 2.5), (1.0, 2.0, 3.0)), _UNITS["millimetre"])
    assert read_image(_with_pixdim(path, (0.8, 0.9, 2.5))).geometry.spacing == pytest.approx((0.8, 0.9, 2.5), rel=1e-6)


def test_negative_pixdim_with_a_sform_is_refused_naming_it(tmp_path):
    ras = _ijk_to_ras((0.8, 0.9, 2.5), (1.0, 2.0, 3.0))
    path = _nifti(tmp_path / "mirrored.nii", _VOLUME, ras, _UNITS["millimetre"])
    _with_pixdim(path, (-0.8, 0.9, 2.5))
    with pytest.raises(GeometryError) as caught:
        read_image(path)
    message = str(caught.value)
    assert str(path) in message and "negative" in message and "-0.8" in message and "mirror" in message
    assert "reference grid" not in message
