"""Pure preprocessing functions: non-finite values, channels, intensity mapping, resizing.

All functions take and return NumPy arrays (float32 unless stated), never modify their input,
and take their parameters from the model card. Slices are batches indexed (B, C, H, W) with H the
row axis J and W the column axis I of the volume.

The resizes of slice batches (network input onto the model grid, soft maps back to the native
grid) are :mod:`SDSegLogic.slice_resize`, re-exported here.
"""

from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np

from .errors import InputError
from .slice_resize import interpolate_tensor, resize_back, resize_slices, resize_tensor

__all__ = [
    "check_finite",
    "check_float32_range",
    "fill_value",
    "channel_mode",
    "channel_mismatch",
    "modality_refusal",
    "to_network_channels",
    "map_intensity",
    "resize_slices",
    "resize_back",
    "resize_tensor",
    "interpolate_tensor",
    "network_input",
    "value_range",
    "warn_if_raw_ct",
    "LUMINANCE",
    "STRICT_SWITCHES",
]

#: ITU-R BT.601 weights used when a colour image goes into a 1-channel model.
LUMINANCE = (0.299, 0.587, 0.114)
#: Where NaN/infinite voxels are allowed to be filled, named in the refusal so each kind of user finds it.
NAN_FILL_SWITCHES = ("sdseg segment --nan-policy fill; nan_policy='fill' in Python (segment_array, "
                     "EngineClient.segment); 'Fill NaN/infinite voxels' in the 3D Slicer panel's Advanced section")
#: Where strict input checking is switched on, named in the refusal so each kind of user finds it.
STRICT_SWITCHES = ("sdseg segment --strict; strict_channels/strict_modality in Python; "
                   "'Refuse mismatched inputs (strict)' in the 3D Slicer panel")


def fill_value(intensity, array: np.ndarray) -> float:
    """Value replacing NaN/inf under ``nan_policy="fill"``: the window minimum, 0 for RGB, else the finite minimum."""
    if intensity.kind == "window":
        return float(intensity.low)
    if intensity.kind == "rgb":
        return 0.0
    finite = array[np.isfinite(array)]
    return float(finite.min()) if finite.size else 0.0


def check_float32_range(array: np.ndarray, volume: np.ndarray, source: str = "image") -> None:
    """Refuse finite values beyond float32 (|v| > 3.4e38), which the engine's float32 copy made infinite.

    Args:
        array: the volume as given, (K, J, I) or (K, J, I, 3), any real dtype (float64 can hold 1e300).
        volume: ``array`` cast to float32.
        source: name used in messages.

    Raises:
        InputError: naming the count, the first such value and its voxel, and the remedy. They are
            finite, so the NaN policy does not apply to them.
    """
    if array.dtype.kind != "f" or array.dtype.itemsize <= 4:
        return
    beyond = np.isinf(volume) & np.isfinite(array)
    count = int(np.count_nonzero(beyond))
    if count == 0:
        return
    first = tuple(int(v) for v in np.argwhere(beyond)[0])
    limit = float(np.finfo(np.float32).max)
    raise InputError(
        f"{source}: {count} voxel value(s) lie beyond the float32 range the engine computes in (|v| <= {limit:.4g}); "
        f"the first is {float(array[first]):g} at index (k, j, i) = {first[:3]}. They are finite, so a NaN policy "
        "does not replace them: rescale the image, or clip it to the value range of its modality, before segmenting."
    )


def check_finite(array: np.ndarray, intensity, policy: str = "reject", source: str = "image") -> Tuple[np.ndarray, int]:
    """Apply the NaN/inf policy.

    Args:
        array: float array (K, J, I) or (K, J, I, 3).
        intensity: the card's :class:`~SDSegLogic.model_card.IntensityMapping` (for the fill value).
        policy: ``"reject"`` (default) raises; ``"fill"`` replaces by :func:`fill_value` and warns.
        source: name used in messages.

    Returns:
        ``(array, count)``: the input itself when all values are finite, else a filled copy.

    Raises:
        InputError: ``policy="reject"`` and there are NaN/inf voxels (count and first index given).
    """
    if policy not in ("reject", "fill"):
        raise InputError(f"nan_policy {policy!r} must be 'reject' or 'fill'.")
    bad = ~np.isfinite(array)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return array, 0
    first = tuple(int(v) for v in np.argwhere(bad)[0])
    if policy == "reject":
        raise InputError(
            f"{source}: {count} voxel value(s) are NaN or infinite (first at index (k, j, i) = {first[:3]}); fix the "
            f"image, or let them be replaced with the window minimum ({NAN_FILL_SWITCHES})."
        )
    value = fill_value(intensity, array)
    warnings.warn(f"{source}: replaced {count} NaN/infinite voxel value(s) (first at (k, j, i) = {first[:3]}) "
                  f"with {value:g}.", stacklevel=2)
    out = array.copy()
    out[bad] = value
    return out, count


def channel_mismatch(is_rgb: bool, input_channels: int) -> Optional[Tuple[str, str, str]]:
    """A colour/grey mismatch between an image and a model, in words for messages.

    Returns:
        ``(what, action, remedy)``, e.g. ``("colour image given to a 1-channel (grayscale) model",
        "converted to luminance (...)", "use a model trained on colour images")``; None when the
        image's channels are the model's.
    """
    if (is_rgb and input_channels == 3) or (not is_rgb and input_channels == 1):
        return None
    if is_rgb:
        return ("colour image given to a 1-channel (grayscale) model", f"converted to luminance {LUMINANCE}",
                "use a model trained on colour images")
    return ("grayscale image given to a colour (RGB) model", "gray values repeated into R, G and B",
            "use a model trained on grayscale images")


def modality_refusal(mismatch: str, card_modality: str, is_rgb: bool = False, input_channels: int = 0) -> InputError:
    """The strict refusal of a modality mismatch: the modality first, then the channels, then the remedies.

    A colour photo given to a CT model is refused for its modality (what the user chose wrongly),
    not for its channels; a channel mismatch of the same input is kept in the message with its remedy.

    Args:
        mismatch: the modality mismatch, e.g. ``"image: the model was trained on CT images but the
            input is a 2-D picture (a colour photo, 3 channels)"`` (see :func:`SDSegLogic.segment_plan.modality_note`).
        card_modality: the modality the model was trained on.
        is_rgb: whether the input has a colour axis.
        input_channels: the model's input channels (0: unknown, no channel detail).

    Returns:
        The :class:`InputError` to raise.
    """
    channels = channel_mismatch(is_rgb, input_channels) if input_channels else None
    what, action, remedy = channels or ("", "", "use a model trained on such inputs")
    return InputError(f"{mismatch}{', also a ' + what if what else ''}; refused because strict checking is on "
                      f"({STRICT_SWITCHES}). Give a {card_modality} image, {remedy}, or turn strict checking off to "
                      f"segment it anyway{': ' + action if action else ''}.")


def channel_mode(is_rgb: bool, input_channels: int, strict: bool = False, source: str = "image") -> Tuple[str, Optional[str]]:
    """Decide how image channels become the network's 3 channels.

    Returns:
        ``(mode, warning)``: mode is ``"repeat"`` (gray -> 3 copies), ``"rgb"`` (as is) or
        ``"luminance"`` (colour -> gray -> 3 copies); ``warning`` is a message for a mismatch.

    Raises:
        InputError: a mismatch when ``strict`` is True.
    """
    mismatch = channel_mismatch(is_rgb, input_channels)
    if mismatch is None:
        return ("rgb" if is_rgb else "repeat"), None
    (what, action, remedy), mode = mismatch, ("luminance" if is_rgb else "repeat")
    if strict:
        raise InputError(f"{source}: {what}; refused because strict checking is on ({STRICT_SWITCHES}). Either "
                         f"{remedy}, or turn strict checking off to adapt the channels.")
    return mode, f"{source}: {what}; {action}. Results may be poor: {remedy}."


def to_network_channels(slices: np.ndarray, mode: str) -> np.ndarray:
    """(B, H, W) gray or (B, H, W, 3) colour -> float32 (B, 3, H, W) following :func:`channel_mode`."""
    x = np.asarray(slices, dtype=np.float32)
    if mode == "rgb":
        return np.ascontiguousarray(np.moveaxis(x, -1, 1))
    if mode == "luminance":
        x = x @ np.asarray(LUMINANCE, dtype=np.float32)
    return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1))


def map_intensity(x: np.ndarray, intensity, source: str = "image", reference: Optional[np.ndarray] = None,
                  quiet: bool = False) -> np.ndarray:
    """Map raw values to [-1, 1] as in training.

    Args:
        x: float array of any shape.
        intensity: ``window``: clip to [low, high], scale linearly; ``rgb``: ``x / 255 * 2 - 1``
            (clipped); ``minmax``: ``(x - min) / (max - min) * 2 - 1`` with min/max taken over
            ``reference`` (the whole volume, default ``x``); a constant image maps to -1 with a warning.
        source: name used in messages.
        quiet: do not warn about a constant image (the caller already did).

    Returns:
        float32 array, same shape, every value in [-1, 1] (never NaN for finite input).
    """
    x = np.asarray(x, dtype=np.float32)
    if intensity.kind == "window":
        low, high = float(intensity.low), float(intensity.high)
        # (clip(x, low, high) - low) / (high - low) * 2 - 1, evaluated in place: same float32
        # operations in the same order as the expression, without four temporary arrays.
        out = np.clip(x, low, high)
        np.subtract(out, low, out=out)
        np.divide(out, high - low, out=out)
        np.multiply(out, 2.0, out=out)
        np.subtract(out, 1.0, out=out)
    elif intensity.kind == "rgb":
        out = np.clip(x / 255.0 * 2.0 - 1.0, -1.0, 1.0)
    elif intensity.kind == "minmax":
        ref = x if reference is None else reference
        low, high = float(np.min(ref)), float(np.max(ref))
        if not high - low > 1e-12 * max(1.0, abs(high)):
            if not quiet:
                warnings.warn(f"{source}: the image is constant ({low:g}); min-max scaling maps it to -1.",
                              stacklevel=2)
            return np.full(x.shape, -1.0, dtype=np.float32)
        wide = x.astype(np.float64) if high - low > float(np.finfo(np.float32).max) else x  # float32: inf / inf = NaN
        out = np.clip((wide - low) / (high - low) * 2.0 - 1.0, -1.0, 1.0)
    else:
        raise InputError(f"intensity kind {intensity.kind!r} must be 'window', 'rgb' or 'minmax'.")
    return out.astype(np.float32, copy=False)


def value_range(array: np.ndarray) -> Tuple[float, float]:
    """``(min, max)`` of a non-empty array as Python floats, in two vectorised passes.

    NaN propagates through both reductions and an infinity becomes the minimum or maximum, so
    both values are finite exactly when every value of ``array`` is: a cheap all-finite test that
    allocates nothing (:func:`check_finite` is only needed when it fails).
    """
    return float(np.min(array)), float(np.max(array))


def warn_if_raw_ct(array: np.ndarray, card, source: str = "image",
                   known_range: Optional[Tuple[float, float]] = None) -> Optional[str]:
    """Warn when a CT model receives values that look like raw stored values (rescale not applied).

    Args:
        array: the volume in the units the card expects (HU for CT).
        card: the model card (only ``window`` mappings of CT/CBCT models are checked).
        source: name used in messages.
        known_range: ``(min, max)`` of ``array`` when the caller already has it (see
            :func:`value_range`); saves two passes over the volume.

    Returns the warning message, or ``None``.
    """
    if card.intensity.kind != "window" or str(card.modality).upper() not in ("CT", "CBCT"):
        return None
    low, high = known_range if known_range is not None else value_range(array)
    if low >= 0 and high >= 1000:
        message = (f"{source}: values range {low:g}..{high:g} with no negative value; for {card.modality} this looks like "
                   "raw stored values without the rescale slope/intercept (air should be about -1000 HU). Check the "
                   "export; the model expects Hounsfield units.")
        warnings.warn(message, stacklevel=2)
        return message
    return None


def network_input(slices: np.ndarray, mode: str, intensity, size: int, source: str = "image",
                  reference: Optional[np.ndarray] = None, resize: str = "bilinear") -> np.ndarray:
    """One batch of native slices -> the network's input, float32 (B, 3, size, size) in [-1, 1].

    Exactly ``resize_slices(map_intensity(to_network_channels(slices, mode), ...), size)``, but a
    gray (``"repeat"``) or ``"luminance"`` batch is mapped and resized as ONE channel and repeated
    to three afterwards: the mapping is elementwise and the resize works on each (slice, channel)
    plane alone, so the result is bit-identical at a third of the work.

    Args:
        slices: (B, H, W) gray or (B, H, W, 3) colour, any real dtype (a strided view is fine).
        mode: from :func:`channel_mode`.
        intensity, source, reference: as in :func:`map_intensity` (``quiet=True``).
        size: the model's square input size S.
        resize: the card's ``image_resize`` (:data:`SDSegLogic.input_resize.INPUT_RESIZES`).

    Returns:
        C-contiguous float32 (B, 3, S, S).
    """
    if mode == "rgb":
        x = to_network_channels(slices, mode)
        return resize_slices(map_intensity(x, intensity, source, reference, quiet=True), size, resize)
    x = np.asarray(slices, dtype=np.float32)
    if mode == "luminance":
        x = x @ np.asarray(LUMINANCE, dtype=np.float32)
    one = resize_slices(map_intensity(x[:, None], intensity, source, reference, quiet=True), size, resize)
    return np.ascontiguousarray(np.repeat(one, 3, axis=1))
