"""Type and consistency checks of a training configuration (used by :mod:`sdseg_training.config`).

Every value is checked against its dataclass annotation when the config is loaded, so that a
typo fails at once with the key, the value and the expected type, not hours later in a loop:

* ``int``: an integer; an integral float (``1e4``, which YAML reads as 10000.0) or an integral
  number written as a string (``1e3``, which YAML 1.1 reads as a string) is taken as that
  integer; ``2.5``, ``ten`` and ``true`` are refused.
* ``float``: a number (an int is taken as a float; a numeric string such as ``2e-4`` too);
  booleans and NaN are refused. Shares and probabilities (``val_fraction``, ``dropout``,
  ``ema_max_decay``, ...) lie in 0..1, every other float but ``window`` and ``betas`` is >= 0,
  ``val_fraction + test_fraction`` is below 1, and both ``optim.betas`` lie in [0, 1).
* Learning rates: ``optim.lr: 0`` (or ``optim.lr_per_sample: 0`` with a null ``optim.lr``, or
  ``autoencoder.lr: 0``) is refused, since it trains nothing; ``optim.lr: null`` means not set.
* ``bool``: ``true`` or ``false`` only.
* ``str``: a string; ``Optional[...]`` also takes ``null``.
* ``Tuple[float, float]`` (``data.window``, ``data.slice_range``, ``optim.betas``): a list of
  exactly two numbers (integers for ``slice_range``).
* ``model.preset``: one of the engine's presets (``SDSegLogic.config.PRESETS``), checked with the
  other keys, before a trainer writes anything (``split.json``) into its output folder.
* ``data.classes``: a list of ``{name: str, labels: [int, ...]}``, label values 1..65535 (ids
  above 255 occur in volume label maps only; 2-D masks are 8-bit), each value in one class only.
* ``data.image_resize``: null (the kind's default) or one of the engine card's ``image_resize``
  values (:mod:`sdseg_training.data.image_resize`), checked with the other keys.

The class count rule (:func:`check_class_count`): a multi-class model has
``model.num_classes = foreground classes + 1`` network classes (class 0 is the union of all
foreground); a binary model (``data.multiclass: false``) has ``model.num_classes: null`` and at
most one entry in ``data.classes`` (list every label value of the foreground in that one class).
"""

from __future__ import annotations

import math
import typing
from typing import Any, Dict, List, Optional, Sequence

from .errors import TrainingConfigError

__all__ = ["coerce_section", "check_classes", "check_class_count", "check_consistency"]

# ints that must be at least 1 (0 would divide by zero or keep nothing); other ints must be >= 0
_AT_LEAST_ONE = {"batch_size", "grad_accum", "log_every", "val_every", "ckpt_every", "keep_checkpoints", "size"}
_ANY_SIGN = {"seed", "split_seed"}
# floats that are shares or probabilities (0..1); every other float must be >= 0 (a time, a rate, a weight)
_UNIT_INTERVAL = {"val_fraction", "test_fraction", "absent_class_probability", "high_t_fraction",
                  "dropout", "cache_rate", "ema_max_decay", "target_dice", "lr_min_factor", "warmup_start_factor"}
# floats that may be negative (a window in HU) or have their own rule (scale_factor: config.py)
_SIGNED_FLOATS = {"window", "betas", "scale_factor"}
_MAX_LABEL = 65535  # data.labels.MAX_LABEL_VALUE: 16-bit label ids (volume label maps keep them exactly)
# what a pair key's value looks like, for messages
_PAIR_EXAMPLES = {"window": "[-125, 275]", "slice_range": "[40, 66]", "betas": "[0.9, 0.999]"}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_type_name(inner[0])} or null"
    if origin in (tuple, typing.Tuple):
        args = typing.get_args(tp)
        return f"a list of {len(args)} {'integers' if args[0] is int else 'numbers'}"
    if origin in (list, typing.List):
        return "a list"
    if origin in (dict, typing.Dict):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _as_int(value: Any) -> Optional[int]:
    """``value`` as an int when it is an integer, an integral float or an integral numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _as_float(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:  # YAML 1.1 reads "2e-4" (no dot) as a string
            return float(value)
        except ValueError:
            return None
    return None


def _not_a_string(key: str, value: Any, where: str, override: Optional[str]) -> TrainingConfigError:
    """The message for a non-string: fitted to a YAML file or to a command-line ``section.key=value``."""
    if override is None:
        return TrainingConfigError(f"{where}: {key}={value!r} is not a string; quote it in the YAML.")
    if value is None:  # "train.output_dir=" parses as YAML null
        return TrainingConfigError(f"{where}: {key} is empty on the command line (an empty value reads as null); "
                                   f"give a value after the =, e.g. {override}=runs/mine.")
    return TrainingConfigError(f"{where}: {key}={value!r} is not a string; on the command line, quote the value inside "
                               f"the argument, e.g. '{override}=\"{value}\"' (the outer quotes are for the shell).")


def _coerce(tp: Any, key: str, value: Any, where: str, override: Optional[str] = None) -> Any:
    """``value`` checked and converted to ``tp``; ``override`` is ``section.key`` when it came from the command line."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(inner[0], key, value, where, override)
    bad = TrainingConfigError(f"{where}: {key}={value!r} is not {_type_name(tp)}.")
    if tp is bool:
        if not isinstance(value, bool):
            raise TrainingConfigError(f"{where}: {key}={value!r} must be true or false.")
        return value
    if tp is int:
        number = _as_int(value)
        if number is None:
            raise TrainingConfigError(f"{where}: {key}={value!r} is not an integer (write e.g. 1000 or 1e3).")
        low = 1 if key in _AT_LEAST_ONE else (None if key in _ANY_SIGN else 0)
        if low is not None and number < low:
            raise TrainingConfigError(f"{where}: {key}={value!r} must be an integer >= {low}.")
        return number
    if tp is float:
        number = _as_float(value)
        if number is None or math.isnan(number):
            raise TrainingConfigError(f"{where}: {key}={value!r} is not a number.")
        base = key.split("[", 1)[0]
        if base in _UNIT_INTERVAL and not 0.0 <= number <= 1.0:
            raise TrainingConfigError(f"{where}: {key}={value!r} must be between 0 and 1 (a share or probability, e.g. 0.1).")
        if number < 0 and base not in _SIGNED_FLOATS:
            raise TrainingConfigError(f"{where}: {key}={value!r} must be >= 0.")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise _not_a_string(key, value, where, override)
        return value
    if origin in (tuple, typing.Tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise TrainingConfigError(f"{where}: {key}={value!r} is not {_type_name(tp)}, e.g. {_PAIR_EXAMPLES.get(key, '[0, 1]')}.")
        return tuple(_coerce(a, f"{key}[{i}]", v, where) for i, (a, v) in enumerate(zip(args, value)))
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise bad
        (item,) = typing.get_args(tp)
        if item is str:  # case ids: a number would lose leading zeros
            for v in value:
                if not isinstance(v, str):
                    raise TrainingConfigError(f"{where}: {key} entry {v!r} is not a string; quote case ids, e.g. ['0001'].")
        return list(value)
    if origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            raise bad
        return value
    return value


def coerce_section(part_cls: type, values: Dict[str, Any], where: str, section: str = "",
                   overridden: Sequence[str] = ()) -> Dict[str, Any]:
    """Check and convert the values of one section against ``part_cls``'s annotations.

    Args:
        part_cls: the section's dataclass (e.g. ``TrainSection``).
        values: the section's keys as read (all known keys).
        where: ``"<file>: <section>"`` for messages.
        section: the section's name (``train``, ...), for command-line examples in messages.
        overridden: the keys of this section given on the command line (their messages say so).

    Returns:
        The converted values (ints as int, pairs as tuples, ...).

    Raises:
        TrainingConfigError: naming the key, the value and the expected type.
    """
    hints = typing.get_type_hints(part_cls)
    cleaned = {}
    for key, value in values.items():
        if key == "mixed_precision":  # its own rule (YAML 1.1 reads no as false)
            cleaned[key] = value
            continue
        cleaned[key] = _coerce(hints[key], key, value, where, f"{section}.{key}" if key in overridden else None)
        if key == "classes":
            check_classes(cleaned[key], f"{where}: classes")
    return cleaned


def check_classes(classes: Sequence[Any], where: str) -> None:
    """``data.classes``: each ``{name: str, labels: [int 1..65535, ...]}``; a value in one class only."""
    seen: Dict[int, str] = {}
    names: List[str] = []
    example = "e.g. [{name: liver, labels: [5]}, {name: kidneys, labels: [2, 3]}]"
    for i, spec in enumerate(classes):
        if not isinstance(spec, dict):
            raise TrainingConfigError(f"{where}[{i}]={spec!r} is not a mapping {{name, labels}}; {example}.")
        unknown = sorted(set(spec) - {"name", "labels"})
        if unknown or "labels" not in spec or "name" not in spec:
            raise TrainingConfigError(
                f"{where}[{i}]={spec!r}: each class needs exactly the keys name and labels"
                f"{f' (unknown: {unknown})' if unknown else ''}; {example}."
            )
        name, labels = spec["name"], spec["labels"]
        if not isinstance(name, str) or not name:
            raise TrainingConfigError(f"{where}[{i}].name={name!r} is not a non-empty string.")
        if name in names:
            raise TrainingConfigError(f"{where}: class name {name!r} appears twice.")
        names.append(name)
        if not isinstance(labels, (list, tuple)) or not labels:
            raise TrainingConfigError(f"{where}[{i}].labels={labels!r} is not a non-empty list of label values; write labels: [{labels!r}].")
        for value in labels:
            number = _as_int(value)
            if number is None or not 1 <= number <= _MAX_LABEL or isinstance(value, str):
                raise TrainingConfigError(f"{where}[{i}].labels: {value!r} is not a label value 1..{_MAX_LABEL} (0 is background).")
            if number in seen:
                raise TrainingConfigError(f"{where}: label value {number} is in both {seen[number]!r} and {name!r}.")
            seen[number] = name
        spec["labels"] = [int(v) for v in labels]


def check_class_count(num_classes: Optional[int], multiclass: bool, foreground: Optional[int], where: str) -> None:
    """Refuse a ``model.num_classes`` that does not fit the data's classes (rule: module docstring).

    Args:
        num_classes: ``model.num_classes``.
        multiclass: ``data.multiclass``.
        foreground: number of foreground classes when known (``len(data.classes)``, or the
            dataset's class names), else ``None`` (only the binary rules are checked).
        where: the config file (or "run") for messages.
    """
    if not multiclass:
        if num_classes is not None:
            raise TrainingConfigError(
                f"{where}: model.num_classes={num_classes} but data.multiclass is false (a binary model has no class "
                "embedding); set model.num_classes=null, or data.multiclass=true with num_classes = foreground classes + 1."
            )
        if foreground is not None and foreground > 1:
            raise TrainingConfigError(
                f"{where}: data.multiclass is false (one foreground) but the data has {foreground} classes; merge them "
                "into one class (one entry in data.classes listing every label value), or set data.multiclass=true "
                f"and model.num_classes={foreground + 1}."
            )
        return
    if (foreground is not None and foreground < 2) or (foreground is None and num_classes is not None and num_classes < 3):
        raise TrainingConfigError(
            f"{where}: data.multiclass is true with "
            + (f"{foreground} foreground class" if foreground is not None else f"model.num_classes={num_classes}")
            + ", but a multi-class model needs at least two foreground classes (num_classes = foreground classes + 1 "
            ">= 3; class 0 is the union of all foreground, so one foreground class is the binary model); set "
            "data.multiclass=false and model.num_classes=null, or list two or more classes in data.classes."
        )
    if num_classes is not None and foreground is not None and num_classes != foreground + 1:
        raise TrainingConfigError(
            f"{where}: model.num_classes={num_classes} but the data has {foreground} foreground class(es); a multi-class "
            f"model needs num_classes = foreground classes + 1 = {foreground + 1} (class 0 is the union of all foreground)."
        )


def check_consistency(cfg: Any, where: str, overridden: Sequence[str] = ()) -> None:
    """Checks across keys that a loaded config can make before any data is read (or written).

    Args:
        cfg: the built :class:`~sdseg_training.config.TrainConfig`.
        where: the config file (or ``"defaults"``) for messages.
        overridden: ``section.key`` names given on the command line, named as such in messages.
    """
    from SDSegLogic.config import PRESETS

    if cfg.model.preset not in PRESETS:  # before a trainer writes split.json or reads any data
        given = " (a command-line override)" if "model.preset" in overridden else ""
        raise TrainingConfigError(f"{where}: model.preset={cfg.model.preset!r}{given} is not a preset; "
                                  f"choose one of {sorted(PRESETS)}.")
    data = cfg.data
    from .data.image_resize import image_resize_of

    image_resize_of(data, where + (" (a command-line override)" if "data.image_resize" in overridden else ""))
    foreground = len(data.classes) if data.classes else None
    check_class_count(cfg.model.num_classes, data.multiclass, foreground, where)
    if data.val_fraction + data.test_fraction >= 1.0:
        raise TrainingConfigError(f"{where}: data.val_fraction={data.val_fraction} + data.test_fraction={data.test_fraction} "
                                  "leaves no training cases; their sum must be below 1 (e.g. 0.1 and 0.1).")
    if data.window is not None and not data.window[0] < data.window[1]:
        raise TrainingConfigError(f"{where}: data.window={list(data.window)!r} must be [low, high] with low < high.")
    _check_learning_rates(cfg, where, overridden)
    if not all(0.0 <= beta < 1.0 for beta in cfg.optim.betas):  # AdamW's decay rates (torch refuses others, mid-setup)
        raise TrainingConfigError(f"{where}: optim.betas={list(cfg.optim.betas)!r} must both lie in [0, 1) (AdamW's decay "
                                  "rates of its moving averages), e.g. [0.9, 0.999] (the paper's).")


def _check_learning_rates(cfg: Any, where: str, overridden: Sequence[str]) -> None:
    """Refuse a learning rate of 0: such a run would take every step and change no weight.

    ``optim.lr: 0`` is refused rather than read as "not set" (``null`` is "not set": the rate is then
    ``optim.lr_per_sample`` times the global batch), and so are ``optim.lr_per_sample: 0`` with a
    null ``optim.lr`` and ``autoencoder.lr: 0``.
    """
    given = {key: " (a command-line override)" if key in overridden else "" for key in
             ("optim.lr", "optim.lr_per_sample", "autoencoder.lr")}
    remedy = "a run with a learning rate of 0 changes no weight; to leave a network untrained, don't train it"
    if cfg.optim.lr is not None and cfg.optim.lr == 0:
        raise TrainingConfigError(f"{where}: optim.lr=0{given['optim.lr']}: {remedy}. Set a positive rate (e.g. 4e-5, "
                                  "the paper's at batch 4), or null to use optim.lr_per_sample times the global batch.")
    if cfg.optim.lr is None and cfg.optim.lr_per_sample == 0:
        raise TrainingConfigError(f"{where}: optim.lr_per_sample=0{given['optim.lr_per_sample']} with optim.lr null gives "
                                  f"a learning rate of 0: {remedy}. Set a positive rate (e.g. 1e-5, the paper's).")
    if cfg.autoencoder.lr == 0:
        raise TrainingConfigError(f"{where}: autoencoder.lr=0{given['autoencoder.lr']}: {remedy}. Set a positive rate "
                                  "(e.g. 2e-4, the default).")
