"""A file of the input DICOM series is never replaced, also when it is stored bare and named without ending.

``check_output_path`` asked GDCM for a file's series only when its name ended in .dcm/.dicom/.ima or it held
``DICM`` at byte 128; a series exported without preamble and named ``IM0001``, ``IM0002``, ... (GDCM, so
SimpleITK and Slicer, and SDSeg read it) was not recognised, so ``-o IM0003`` would overwrite one of its slices.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io.atomic import check_output_path
from test_s19b_io_dicom_without_preamble import GRID, _bare_series

pytest.importorskip("pydicom")
pytest.importorskip("SimpleITK")


def test_a_bare_slice_without_an_ending_is_kept(tmp_path):
    folder = _bare_series(tmp_path / "ct", np.zeros(GRID.array_shape, np.int16), implicit=False)
    names = []
    for number, path in enumerate(sorted(folder.iterdir()), start=1):
        names.append(path.rename(folder / f"IM{number:04d}"))
    with pytest.raises(InputError, match="input DICOM series"):
        check_output_path(names[2], names[0])
    assert check_output_path(folder / "IM9999", names[0]) == folder / "IM9999"  # a new file may be written
