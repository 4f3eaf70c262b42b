"""How a dataset's images are resized to the training size: ``data.image_resize``, one mode per run.

The mode is one of the engine's model-card ``image_resize`` values
(:data:`SDSegLogic.input_resize.INPUT_RESIZES`: ``bilinear``, ``bicubic``, ``pillow-bilinear``,
``pillow-bicubic``, ``corners-bilinear``), and the images are resized by the engine's own function
(:func:`SDSegLogic.preprocessing.resize_slices`), so a training slice equals the network input the
engine prepares from the same file under the exported card. Masks are always resized by nearest
neighbour, whatever the mode.

``data.image_resize: null`` (the default) keeps the kind's former choice, :data:`KIND_DEFAULTS`
(``bicubic`` for Kvasir-SEG, ``bilinear`` for every other kind): runs recorded before the key
existed resolve to the mode they were trained with.
"""

from __future__ import annotations

from typing import Any, List

from ..errors import TrainingConfigError

__all__ = ["KIND_DEFAULTS", "allowed_image_resizes", "image_resize_of"]

#: The mode of ``data.image_resize: null`` by data kind (others: ``bilinear``).
KIND_DEFAULTS = {"kvasir": "bicubic"}


def allowed_image_resizes() -> List[str]:
    """The values ``data.image_resize`` may take: the engine card's ``image_resize`` values."""
    from SDSegLogic.input_resize import INPUT_RESIZES

    return list(INPUT_RESIZES)


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else getattr(data, key, None)


def image_resize_of(data: Any, where: str = "config") -> str:
    """The image resize mode of a ``data`` section: ``data.image_resize``, or the kind's default when null.

    Args:
        data: a :class:`~sdseg_training.config.DataSection` or its recorded mapping (``state.json``).
        where: the config file (or run) named in the message.

    Returns:
        One of :func:`allowed_image_resizes`.

    Raises:
        TrainingConfigError: an unknown value, naming ``where``, the value and the allowed values.
    """
    value = _get(data, "image_resize")
    if value is None:
        return KIND_DEFAULTS.get(str(_get(data, "kind")), "bilinear")
    allowed = allowed_image_resizes()
    if value not in allowed:
        raise TrainingConfigError(
            f"{where}: data.image_resize={value!r} is not one of {allowed} (or null: {KIND_DEFAULTS.get('kvasir')} for "
            "kvasir, bilinear for the other kinds); name how the images are resized to data.size, e.g. pillow-bilinear "
            "as the official CVC-ClinicDB and REFUGE2 loaders did.")
    return str(value)
