"""The network-input resize a model card's ``image_resize`` names: one interpolation per mode.

A model must see its input resized exactly as its training images were, so the card says how
(:data:`SDSegLogic.model_card.IMAGE_RESIZE_MODES`) and :func:`input_resize_tensor` reproduces it
with ``torch.nn.functional.interpolate``:

``"bilinear"`` / ``"bicubic"`` (the default, and this project's training package)
    ``align_corners=False``, never antialiased: MONAI ``Resize`` in ``sdseg_training``, and the
    official BTCV slices (``data/synapse/nii2format.py``, ``cv2.resize`` with its default
    ``INTER_LINEAR``, 512 -> 256), which OpenCV does not antialias either.

``"pillow-bilinear"`` / ``"pillow-bicubic"`` (checkpoints of the official code's photo datasets)
    Pillow's ``Image.resize`` with ``BILINEAR`` / ``BICUBIC``: pixel centres aligned, and the
    filter widened by the scale factor when shrinking (antialiasing), a bicubic kernel with
    a = -0.5 in both directions. PyTorch's ``antialias=True`` implements that filter (it was
    written to match Pillow), so it is used whether the image shrinks or grows: without it an
    enlarging bicubic resize uses a = -0.75 and differs from Pillow. Pillow resizes an 8-bit image
    in two passes and stores the intermediate image as 8 bits, so the bicubic overshoot of the
    first pass is clipped to [0, 255] before the second; the engine does the same passes and clips
    the intermediate to [-1, 1] (the mapped [0, 255]), else a noisy photo differs by up to 13 grey
    levels. The width pass comes first, as in Pillow 9.5.0, which the official
    ``environment.yaml`` pins (some later Pillow builds start with the pass that leaves the
    smaller intermediate, the same pass for landscape photos such as CVC's and Kvasir's). In the
    official code
    (lin-tianyu/Stable-Diffusion-Seg, commit 0b0aa38): ``ldm/data/cvc.py`` line 46 (CVC-ClinicDB)
    and ``ldm/data/refuge2.py`` line 43 (REFUGE2) resize the RGB image with ``BILINEAR``,
    ``ldm/data/kseg.py`` line 49 (Kvasir-SEG) with ``BICUBIC``; each on the 8-bit image, before
    ``/ 255 * 2 - 1``. Pillow rounds its uint8 result, which the engine (resizing the mapped float
    image) does not: the two differ by at most about one grey level.

``"corners-bilinear"`` (STS-3D checkpoints of the official code)
    ``scipy.ndimage.zoom(order=1)`` (``ldm/data/sts3d.py`` line 74, training slices, already
    windowed to [0, 1] by ``data/sts3d/sts3d_preprocess.py``): linear, output pixel i taken at
    input position ``i * (n_in - 1) / (n_out - 1)``, so the first and last pixel CENTRES map
    onto each other (``align_corners=True``), never antialiased. (The official STS-3D test mode,
    line 63 on, feeds the stored slices without any resize.)

The official code never resampled a result back to the image's own grid: it scored the 256 px
prediction against a mask resized NEAREST to 256 px. The engine always resizes the soft maps back
(:func:`SDSegLogic.slice_resize.resize_back`, bilinear); that is the result a user needs, on the
grid of the image given. The way back places the pixels as the way in did (:func:`back_align_corners`):
centres aligned, except for ``"corners-bilinear"``, whose first and last pixels are aligned both ways
(the official STS-3D loader resized its masks so too), else the mask would move by up to half a voxel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Sequence, Tuple

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["INPUT_RESIZES", "input_resize_tensor", "back_align_corners"]

#: card ``image_resize`` -> (interpolate mode, Pillow, align_corners). Pillow: antialiased always
#: (also when enlarging), in two passes (width, then height) with the intermediate clipped to
#: [-1, 1]. The keys are the card's allowed values.
INPUT_RESIZES: Dict[str, Tuple[str, bool, bool]] = {
    "bilinear": ("bilinear", False, False),
    "bicubic": ("bicubic", False, False),
    "pillow-bilinear": ("bilinear", True, False),
    "pillow-bicubic": ("bicubic", True, False),
    "corners-bilinear": ("bilinear", False, True),
}


def back_align_corners(image_resize: str = "bilinear") -> bool:
    """Whether soft maps go back to the native grid with the first and last pixels aligned.

    True for ``"corners-bilinear"`` (the input pixel at ``i * (n_in - 1) / (n_out - 1)``), False for
    the modes that align pixel centres; so the way back is the inverse of the input's placement.
    An unknown mode is refused by :func:`input_resize_tensor` before any result exists.
    """
    return INPUT_RESIZES.get(image_resize, INPUT_RESIZES["bilinear"])[2]


def input_resize_tensor(x: "torch.Tensor", size: Sequence[int], image_resize: str = "bilinear") -> "torch.Tensor":
    """Resize a network-input batch as the card's ``image_resize`` says.

    Args:
        x: float (B, C, H, W), already intensity-mapped (every mode is linear in the values, so
            mapping first and resizing second equals the official resize-then-map).
        size: (rows, columns) wanted, the card's training size.
        image_resize: one of :data:`INPUT_RESIZES` (the card's ``image_resize``).

    Returns:
        float (B, C, size[0], size[1]) on x's device, a new tensor (a copy when the size matches).

    Raises:
        InputError: an unknown ``image_resize``, naming the allowed values.
    """
    from .slice_resize import interpolate_tensor

    if image_resize not in INPUT_RESIZES:
        raise InputError(f"image_resize {image_resize!r} must be one of {list(INPUT_RESIZES)}: fix the model card's "
                         "image_resize to say how the model's training images were resized.")
    mode, pillow, align_corners = INPUT_RESIZES[image_resize]
    if not pillow:
        return interpolate_tensor(x, size, mode, align_corners=align_corners)
    rows, columns = int(size[0]), int(size[1])
    if columns != x.shape[3] and rows != x.shape[2]:  # Pillow's horizontal pass, kept as 8 bits: clipped
        x = interpolate_tensor(x, (x.shape[2], columns), mode, antialias=True).clamp_(-1.0, 1.0)
    return interpolate_tensor(x, (rows, columns), mode, antialias=True)
