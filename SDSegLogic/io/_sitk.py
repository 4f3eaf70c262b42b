"""SimpleITK <-> (NumPy array, ImageGeometry) conversions; the only place that touches sitk geometry."""

from __future__ import annotations

import contextlib
import locale
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import GeometryError
from ..geometry import ImageGeometry
from ._plane import plane_normal

__all__ = ["geometry_from_sitk", "array_from_sitk", "image_from_array", "itk_safe_path", "itk_warnings_silenced"]


def geometry_from_sitk(image, source: str = "image") -> ImageGeometry:
    """Geometry of a 2-D, 3-D or 4-D SimpleITK image (the first three axes; 2-D gets k = 1, spacing 1).

    Args:
        image: ``SimpleITK.Image`` (or an ``ImageFileReader`` after ``ReadImageInformation``); its
            origin/spacing/direction are in LPS (ITK's frame).
        source: name used in error messages.
    """
    dim = image.GetDimension()
    size, spacing, origin = list(image.GetSize()), list(image.GetSpacing()), list(image.GetOrigin())
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dim, dim)
    for axis, step in enumerate(spacing):  # a reader's header information (NIfTI negative pixdim): as ITK's
        if step < 0:  # ImageFileReader does, a positive spacing along the flipped direction, voxels unmoved
            spacing[axis], direction[:, axis] = -step, -direction[:, axis]
    if dim == 2:
        d3 = np.zeros((3, 3))
        d3[:2, :2] = direction
        d3[:, 2] = plane_normal(d3[:, 0], d3[:, 1])  # +z, as ITK (so 3D Slicer) completes a 2-D image
        size, spacing, origin, direction = size + [1], spacing + [1.0], origin + [0.0], d3
    elif dim >= 3:
        size, spacing, origin, direction = size[:3], spacing[:3], origin[:3], direction[:3, :3]
    else:
        raise GeometryError(f"{source}: {dim}-D images are not supported; give a 2-D or 3-D image.")
    try:
        return ImageGeometry(tuple(spacing), tuple(origin), direction, tuple(size))
    except GeometryError as exc:
        raise GeometryError(f"{source}: {exc}") from None


class _ImageBuffer:
    """Hands NumPy an ITK image's pixel buffer (``__array_interface__``) and keeps the image alive with it."""

    def __init__(self, image, interface: dict) -> None:
        self.image = image
        self.__array_interface__ = interface


def array_from_sitk(image) -> np.ndarray:
    """The voxels of ``image`` as a writable NumPy array in ITK's own buffer: no copy, the image kept alive by it.

    ``SimpleITK.GetArrayFromImage`` copies, so that the image and its copy (twice the voxels) are held at once;
    ``GetArrayViewFromImage`` does not copy but leaves the buffer to die with an image the caller must keep.
    Here the array owns the image: it is freed when the last view of the array goes.

    Args:
        image: ``SimpleITK.Image`` whose buffer nothing else uses (a reader's fresh output).

    Returns:
        (K, J, I[, C]) or (J, I[, C]) in the image's pixel type, as ``GetArrayFromImage`` returns it.
    """
    import SimpleITK as sitk

    view = sitk.GetArrayViewFromImage(image)  # makes the buffer the image's own (MakeUnique)
    interface = dict(view.__array_interface__)
    interface["data"] = (interface["data"][0], False)  # writable: the buffer belongs to this array alone
    array = np.asarray(_ImageBuffer(image, interface))
    if array.shape != view.shape or array.dtype != view.dtype:  # never expected; then copy as SimpleITK does
        return np.array(view, copy=True)
    return array


def image_from_array(array: np.ndarray, geometry: ImageGeometry):
    """A 3-D SimpleITK image (scalar, or vector when ``array`` is (K, J, I, C)) carrying ``geometry``."""
    import SimpleITK as sitk

    is_vector = array.ndim == 4
    image = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=is_vector)
    image.SetSpacing(tuple(float(v) for v in geometry.spacing))
    image.SetOrigin(tuple(float(v) for v in geometry.origin))
    image.SetDirection(tuple(float(v) for v in geometry.direction_matrix.reshape(-1)))
    return image


@contextlib.contextmanager
def itk_warnings_silenced() -> Iterator[None]:
    """Keep ITK's global warnings (printed raw to the C stderr, past ``--quiet`` and ``--json``) off meanwhile.

    For calls whose warnings the caller turns into its own message, e.g. GDCM's "No Series were
    found" before our "no DICOM series found". The previous setting is restored afterwards.
    """
    import SimpleITK as sitk

    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def _itk_would_read_sibling(path: Path) -> bool:
    """Whether ITK, asked for ``path``, would take the voxels from another file beside it.

    The NIfTI library under ITK, given ``scan.nii.gz``, reads the header from it but the voxels
    from ``scan.nii`` when that file exists, silently returning another image's voxels.
    """
    name = path.name
    return name.lower().endswith(".nii.gz") and path.is_file() and path.with_name(name[:-3]).exists()


def _link_or_copy(path: Path, temp: Path) -> None:
    """Make ``temp`` name the content of ``path``: a symbolic link where allowed, else a copy."""
    try:
        os.symlink(path.resolve(), temp)
    except (OSError, NotImplementedError):  # Windows without the privilege, or no symlinks on this file system
        shutil.copy2(path, temp)


@contextlib.contextmanager
def itk_safe_path(path: Path, writing: bool = False) -> Iterator[Path]:
    """Yield a path ITK can open, and from which it reads exactly ``path``.

    On Windows ITK uses the ANSI code page, so a path that cannot be encoded in it is routed
    through an ASCII-named temporary copy (reading) or temporary file moved into place (writing).
    Elsewhere the path is used as is (UTF-8 works on POSIX). A ``.nii.gz`` that has a ``.nii``
    namesake beside it is read through a temporary link of its own (ITK would read the
    namesake's voxels).
    """
    sibling = not writing and _itk_would_read_sibling(path)
    encodable = True
    if os.name == "nt":
        try:
            str(path).encode(locale.getpreferredencoding(False))
        except UnicodeEncodeError:
            encodable = False
    if encodable and not sibling:
        yield path
        return
    suffix = "".join(path.suffixes[-2:]) if path.name.lower().endswith(".nii.gz") else path.suffix
    with tempfile.TemporaryDirectory(prefix="sdseg_") as tmp:
        temp = Path(tmp) / ("data" + suffix)
        if not writing:
            if path.is_dir():
                shutil.copytree(path, temp)
            elif encodable:
                _link_or_copy(path, temp)
            else:
                shutil.copy2(path, temp)
        yield temp
        if writing:
            shutil.move(str(temp), str(path))
