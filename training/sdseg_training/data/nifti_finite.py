"""Training refuses a float NIfTI volume holding NaN or infinite voxels, as it refuses them in other formats.

ITK's NIfTI library (under SimpleITK, 3D Slicer and the engine) stores non-finite voxel values as 0,
so a training volume read through SimpleITK no longer shows them to :func:`.preprocess.refuse_non_finite`:
a CT with a NaN patch (e.g. outside a resampled field of view) trained as if the patch were 0 HU, while the
same volume as NRRD was refused. The stored voxels are scanned by the engine's
:func:`SDSegLogic.io.nifti_finite.nifti_non_finite` before the ITK read.
"""

from __future__ import annotations

from pathlib import Path

from SDSegLogic.io.nifti_finite import nifti_non_finite

__all__ = ["refuse_non_finite_nifti"]


def refuse_non_finite_nifti(path: str) -> None:
    """Raise a DatasetError naming ``path``, the count and the first voxel when its stored floats include NaN/inf.

    Args:
        path: any volume file; only single-file NIfTI-1 with float32/float64 voxels is scanned (by
            content, not by name), everything else returns at once.

    Raises:
        DatasetError: non-finite stored values, with the first one's (k, j, i) index in the file.
    """
    from ..errors import DatasetError

    found = nifti_non_finite(Path(path))
    if found is None:
        return
    count, index = found
    raise DatasetError(f"{path}: {count} value(s) are NaN or infinite (the first at voxel (k, j, i) = {index} of the "
                       "file); NIfTI readers (ITK, 3D Slicer, the engine) read them as 0, so training would learn "
                       "values the scan does not hold. Replace them (e.g. with the window minimum, or -1024 HU for "
                       "air outside a CT's field of view) and save the file again.")
