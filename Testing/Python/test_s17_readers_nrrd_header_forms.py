"""NRRD headers that Teem (ITK, 3D Slicer) reads and pynrrd refused.

* Spaces inside a vector, ``space directions: (0.5, 0, 0) ...``, as Python prints a tuple into a
  hand-written header: refused as an "invalid NRRD header".
* ``type``, ``encoding`` and ``endian`` values in capitals (Teem reads its enums in any case): 4-D
  and colour files, read by pynrrd, were refused as "truncated or corrupt".
* ``encoding: hex`` (which pynrrd cannot decode) was blamed on a truncated or corrupt file; it is now
  named as an unsupported encoding.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")

_GRID = b"space: left-posterior-superior\nspace origin: ( 1, 2, 3 )\n"  # Teem wants 'space' first


def _four_d() -> np.ndarray:
    return (np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5) * 7 - 300).astype(np.int16)  # (frame, K, J, I)


@pytest.mark.parametrize("layout", ["3-D", "4-D", "detached 4-D"])
@pytest.mark.parametrize("encoding", [b"raw", b"gzip"])
def test_spaced_vectors_and_capital_enums_read_like_simpleitk(tmp_path, layout, encoding):
    volume = _four_d() if "4-D" in layout else _four_d()[0]
    fields = (b"dimension: 4\nsizes: 5 4 3 2\nkinds: domain domain domain list\n"
              b"space directions: (0.5, 0, 0) (0, 0.7, 0) (0, 0, 2) none\n" if "4-D" in layout else
              b"dimension: 3\nsizes: 5 4 3\nspace directions: (0.5, 0, 0) (0, 0.7, 0) (0, 0, 2)\n")
    header = b"NRRD0004\ntype: SHORT\nendian: LITTLE\nencoding: " + encoding.upper() + b"\n" + _GRID + fields
    data = volume.tobytes() if encoding == b"raw" else gzip.compress(volume.tobytes())
    if layout.startswith("detached"):
        (tmp_path / "ct.raw").write_bytes(data)
        path = tmp_path / "ct.nhdr"
        path.write_bytes(header + b"data file: ct.raw\n")  # a detached header may end without a blank line
    else:
        path = tmp_path / "ct.nrrd"
        path.write_bytes(header + b"\n" + data)
    itk = sitk.ReadImage(str(path))  # what 3D Slicer reads
    kwargs = {"frame": 1} if "4-D" in layout else {}
    image = read_image(path, **kwargs)
    expected = volume[1] if "4-D" in layout else volume
    assert np.array_equal(image.array, expected.astype(np.float32))
    itk_voxels = sitk.GetArrayFromImage(itk)  # a 'list' axis is ITK's vector component, last
    assert np.array_equal(np.moveaxis(itk_voxels, -1, 0) if "4-D" in layout else itk_voxels, volume)
    assert np.allclose(image.geometry.spacing, (0.5, 0.7, 2.0)) and np.allclose(image.geometry.origin, (1, 2, 3))


def test_hex_encoding_is_named_as_unsupported(tmp_path):
    volume = _four_d()
    path = tmp_path / "hex.nrrd"
    path.write_bytes(b"NRRD0004\ntype: short\nendian: little\nencoding: hex\ndimension: 4\nsizes: 5 4 3 2\n"
                     b"kinds: domain domain domain list\n" + _GRID
                     + b"space directions: (0.5,0,0) (0,0.7,0) (0,0,2) none\n\n" + volume.tobytes().hex().encode() + b"\n")
    with pytest.raises(InputError, match=r"hex\.nrrd: NRRD encoding 'hex' is not supported; save the image with raw "
                                         r"or gzip encoding"):
        read_image(path, frame=0)
