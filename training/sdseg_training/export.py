"""Export a trained run to an engine model folder (``SDSegLogic.model_folder``).

Only what inference needs is written: tau_theta, the EMA UNet, the scale factor (in
``config.json``) and the autoencoder once, as fp16 safetensors (``variant="fp16"``); the model
card gets the data contract (channels, intensity mapping, orientation, size), the classes, and a
``training`` record (data, split sizes, steps, validation and test metrics). The sha256 of every
weight file is added by ``save_model_folder``; the folder is written beside the destination
(``.<name>.export-<8 characters>``, under the destination's write lock, so the next export or
write of it removes what a killed export left: :mod:`SDSegLogic.model_folder_lock`), loaded back
and run once, and only then moved into place.

``overwrite`` replaces only an engine model folder (``config.json`` + ``model_card.json``, no
subfolders) that is neither a run, stage-1 or data folder of the config nor a folder containing
one; anything else is refused, so an export can never delete a training run.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from SDSegLogic.class_names import class_name_key
from SDSegLogic.model_card import IntensityMapping, ModelCard, read_segment_class
from SDSegLogic.model_folder import CARD_NAME, CONFIG_NAME, load_model_folder, move_folder_into_place, save_model_folder
from SDSegLogic.model_folder_lock import folder_write_lock
from SDSegLogic.model_names import model_id_problem
from SDSegLogic.staging_names import EXPORT, make_staging, sibling_prefix

from .checkpoint import best_record_after_crash
from .data import discover
from .errors import TrainingConfigError
from .evaluate import check_checkpoint_classes, checkpoint_folder, model_from_checkpoint
from .run_compat import check_same_data
from .stage1_output import stale_meta_note

__all__ = ["build_card", "export_run", "check_destination", "default_modality"]

#: Card modality by data kind when the card file gives none (``photo`` = a 2-D picture, as the engine's reader says).
KIND_MODALITY = {"folder2d": "photo", "cvc": "endoscopy", "kvasir": "endoscopy", "refuge2": "fundus"}
#: Card fields filled from the run (the card file may override those marked so in :func:`build_card`).
_SET_BY_EXPORT = ("intensity", "training_size", "weights", "fast_decoder")


def _read_mapping(path: Optional[str]) -> Dict[str, Any]:
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise TrainingConfigError(f"{p}: model-card file not found.")
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text)


def default_modality(kind: str) -> str:
    """The card's ``modality`` for data ``kind`` when the card file names none."""
    return KIND_MODALITY.get(kind, "CT")


def _card_fields(fields: Dict[str, Any], source: str = "card file") -> Dict[str, Any]:
    """Check the card file's keys: ``licence`` is read as ``license``; unknown keys are refused."""
    fields = dict(fields)
    if "licence" in fields:
        if "license" in fields:
            raise TrainingConfigError(f"{source}: gives both 'licence' and 'license'; keep one (the field is 'license').")
        fields["license"] = fields.pop("licence")
    valid = sorted({f.name for f in dataclasses.fields(ModelCard)} - set(_SET_BY_EXPORT))
    unknown = sorted(set(fields) - set(valid))
    if unknown:
        raise TrainingConfigError(f"{source}: unknown model-card keys {unknown}; the valid keys are {valid} "
                                  "('licence' is accepted for 'license').")
    return fields


def _all_grey(info) -> bool:
    """True when every image of a 2-D dataset has R == G == B (grey pictures, read as RGB)."""
    for case in info.cases.values():
        image = case.load()[0]
        if image.shape[1] != 3 or not (np.array_equal(image[:, 0], image[:, 1]) and np.array_equal(image[:, 0], image[:, 2])):
            return False
    return bool(info.cases)


def build_card(cfg, info, model, fields: Dict[str, Any], training: Dict[str, Any], card_source: str = "card file") -> ModelCard:
    """Model card from the config's data contract, the card fields file and a training record.

    ``modality`` defaults from the data kind (:data:`KIND_MODALITY`, else ``CT``); a ``folder2d``
    dataset whose pictures are all grey gets ``input_channels: 1`` (grey inputs are then used as
    in training, without a channel warning), unless the card file sets these fields.
    """
    fields = _card_fields(fields, card_source)
    for key in ("authors", "references"):  # as SDSegLogic.model_card reads them: tuple("Jane Doe") is one per letter
        if key in fields:
            value = fields[key]
            if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
                example = "Jane Doe" if key == "authors" else "https://doi.org/..."
                raise TrainingConfigError(f"{card_source}: {key} {value!r} must be a list of strings, one per "
                                          f"{key[:-1]} (e.g. {key}: [\"{example}\"]).")
            fields[key] = tuple(value)
    class_specs = fields.pop("classes", None)
    if class_specs is None:
        class_specs = [{"name": n} for n in info.class_names]
    if not isinstance(class_specs, list):
        raise TrainingConfigError(f"{card_source}: classes {class_specs!r} must be a list of objects, one per class, "
                                  "e.g. classes: [{name: liver, color: [0.87, 0.51, 0.4]}].")
    # read as a model card reads its classes (a colour "100" is refused, not red; a misspelt key is named);
    # label_value defaults to the class's place
    classes = tuple(read_segment_class({"label_value": i, **c} if isinstance(c, dict) else c, i - 1, card_source)
                    for i, c in enumerate(class_specs, start=1))
    expected = len(info.class_names) if cfg.data.multiclass else 1
    if len(classes) != expected:
        raise TrainingConfigError(f"{card_source}: lists {len(classes)} classes but the model has {expected} "
                                  "foreground class(es).")
    if cfg.data.multiclass:
        _check_class_places([str(c.name) for c in classes], list(info.class_names), card_source)
    intensity = IntensityMapping(**{"low": None, "high": None, **info.intensity}) if info.intensity.get("kind") != "window" else IntensityMapping(**info.intensity)
    if "input_channels" not in fields:
        fields["input_channels"] = 1 if cfg.data.kind == "folder2d" and int(info.channels) == 3 and _all_grey(info) else int(info.channels)
    fields.setdefault("modality", default_modality(cfg.data.kind))
    trained_resize = getattr(info, "image_resize", "bilinear")  # the engine must resize as training did
    if fields.setdefault("image_resize", trained_resize) != trained_resize:
        raise TrainingConfigError(f"{card_source}: image_resize {fields['image_resize']!r} is not how this run's "
                                  f"images were resized ({trained_resize!r}, data.image_resize, or the default of "
                                  f"data.kind {cfg.data.kind!r} when null); remove image_resize from the card file "
                                  "(export fills it in).")
    given = "model_id" in fields
    model_id = str(fields.pop("model_id", Path(cfg.train.output_dir).name))
    problem = model_id_problem(model_id)
    if problem:  # checked here, not at import: a card nobody could install would be written
        where = card_source if given else (f"the model id defaults to the run folder's name "
                                           f"({cfg.train.output_dir}); set model_id in the card file (--card)")
        raise TrainingConfigError(f"{where}: {problem}")
    return ModelCard(  # its errors name the file that gave the value, not "model card"
        model_id=model_id, intensity=intensity, orientation=str(fields.pop("orientation", "LPS")),
        training_size=int(model.config.sample_size), classes=classes,
        training={**fields.pop("training", {}), **training}, source=card_source, **fields,
    )


def _check_class_places(card: List[str], run: List[str], card_source: str) -> None:
    """Refuse card-file classes that name a run class at another place (the card's i-th class is network class i).

    A renamed class (a name no run class has, e.g. ``Liver`` for ``liver parenchyma``) is allowed;
    names compare as the engine compares them (:func:`SDSegLogic.class_names.class_name_key`).

    Raises:
        TrainingConfigError: naming both orders, the card file and the remedy.
    """
    keys = [class_name_key(n) for n in run]
    moved = [n for i, n in enumerate(card) if class_name_key(n) in keys and keys.index(class_name_key(n)) != i]
    if moved:
        raise TrainingConfigError(
            f"{card_source}: its classes {card} name the run's classes {moved} at other places than data.classes "
            f"{run}; the card's i-th class names the network's class i, so the exported segments would carry each "
            f"other's names. List the card file's classes in the order of data.classes: {run}.")


def check_destination(cfg, out: Path, overwrite: bool) -> None:
    """Refuse an export destination that exists (unless ``overwrite``) or that ``overwrite`` must not replace.

    Raises:
        TrainingConfigError: ``out`` exists without ``overwrite``; is a file; is (or contains) the
            run's ``train.output_dir``, the stage-1 folder, the frozen autoencoder or the data; or
            is not an engine model folder (``config.json`` + ``model_card.json``, no subfolders).
    """
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise TrainingConfigError(f"--out {out} is a file; name a folder for the model.")
    if not overwrite:
        raise TrainingConfigError(f"--out {out} already exists; choose another folder, or pass --overwrite to replace "
                                  "an earlier export (only an engine model folder is replaced).")
    target = out.resolve()
    protected = {"train.output_dir": cfg.train.output_dir, "autoencoder.output_dir": cfg.autoencoder.output_dir,
                 "model.autoencoder": cfg.model.autoencoder, "data.root": cfg.data.root}
    for setting, value in protected.items():
        if not value or str(value).strip().lower() == "random":
            continue
        path = Path(str(value)).resolve()
        if path == target or target in path.parents:
            raise TrainingConfigError(f"--out {out} is {'' if path == target else 'a folder containing '}the {setting} "
                                      f"folder {value}; --overwrite would delete it. Export to a new folder, e.g. "
                                      f"{Path(cfg.train.output_dir) / 'model'}.")
    if not (out / CARD_NAME).is_file() or not (out / CONFIG_NAME).is_file():
        raise TrainingConfigError(f"--out {out} exists and is not an engine model folder (no {CARD_NAME} / {CONFIG_NAME}); "
                                  "--overwrite replaces only an earlier export. Choose a new folder, or remove this one yourself.")
    subfolders = sorted(p.name for p in out.iterdir() if p.is_dir())
    if subfolders:
        raise TrainingConfigError(f"--out {out} holds subfolders {subfolders}, which an engine model folder does not; "
                                  "--overwrite would delete them. Choose a new folder, or move them out first.")


def export_run(cfg, out: str, checkpoint: str = "best", card_path: Optional[str] = None, metrics_path: Optional[str] = None,
               overwrite: bool = False) -> Path:
    """Write ``out`` from a run's checkpoint; returns the folder.

    Raises:
        TrainingConfigError: a destination :func:`check_destination` refuses, a run trained on a
            random autoencoder, classes or a data kind or window other than the run's, or card fields
            that do not fit.
    """
    from .modeling import is_random_autoencoder, read_autoencoder_meta, resolve_autoencoder_source

    out_path = Path(out)
    check_destination(cfg, out_path, overwrite)
    if is_random_autoencoder(resolve_autoencoder_source(cfg)):
        raise TrainingConfigError("model.autoencoder=random: a run trained on an untrained autoencoder cannot be exported; "
                                  "train stage 1 (sdseg-train-ae) and stage 2 again with it.")
    folder = checkpoint_folder(Path(cfg.train.output_dir), checkpoint)
    model = model_from_checkpoint(cfg, folder)
    info = discover(cfg.data)
    check_checkpoint_classes(cfg, model, info.class_names, folder, "export")
    check_same_data(folder, model.training_state, cfg, "export")  # the card's intensity mapping and resize are the run's
    state = model.training_state
    recorded_best = best_record_after_crash(folder, state)  # a crash after saving best, before this step recorded it
    split_path = Path(cfg.data.split_file) if cfg.data.split_file else Path(cfg.train.output_dir) / "split.json"
    split = json.loads(split_path.read_text(encoding="utf-8")) if split_path.is_file() else {}
    trained = {**dataclasses.asdict(cfg.train), **((state.get("config") or {}).get("train") or {})}  # as the run recorded it
    training: Dict[str, Any] = {
        "data": cfg.data.kind, "split_sizes": {k: len(split.get(k, [])) for k in ("train", "val", "test")},
        "steps": state["step"], "global_batch": int(trained["batch_size"]) * int(trained["grad_accum"]) * state.get("num_processes", 1),
        "lambda_latent": trained["lambda_latent"], "scale_factor": state["scale_factor"],
        "best_validation": recorded_best[0] if recorded_best else state.get("best"),
        "preset": cfg.model.preset, "exported_from": folder.name, "autoencoder_sha256": state.get("autoencoder_sha256"),
    }
    if "slices" in split:
        training["slices"] = {k: len(v) for k, v in split["slices"].items()}
        training["test_slices"] = [min(split["slices"]["test"]), max(split["slices"]["test"])]
    meta = read_autoencoder_meta(Path(cfg.model.autoencoder))
    stale = stale_meta_note(Path(cfg.model.autoencoder), meta) if meta else None
    if stale:  # the record of other weights: the card must not present it as these weights' history
        warnings.warn(stale, stacklevel=2)
        training["autoencoder"] = {"source": "stage 1 (this package)", "record": stale}
    elif meta:
        training["autoencoder"] = {"source": "stage 1 (this package)", "steps": meta.get("steps_total", meta.get("steps")),
                                   "heldout_reconstruction": meta.get("heldout_reconstruction")}
    if metrics_path:
        metrics = _read_mapping(metrics_path)
        _check_metrics_source(metrics, metrics_path, state["step"], checkpoint)
        training["test_metrics"] = _summary(metrics)
    card = build_card(cfg, info, model, _read_mapping(card_path), training,
                      card_source=str(card_path) if card_path else "the model card built from the config")
    # one writer of out_path at a time; the staging folders of killed exports and writers are removed first
    with folder_write_lock(out_path):
        staging = make_staging(out_path.parent, sibling_prefix(out_path, EXPORT))
        try:
            built = save_model_folder(staging / out_path.name, model, card, variant="fp16")
            _publishable(built)
            _smoke_load(built)
            check_destination(cfg, out_path, overwrite)  # nothing appeared there meanwhile that must not be replaced
            move_folder_into_place(built, out_path)  # the old export stays whole until the new one is in place
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out_path


def _check_metrics_source(metrics: Dict[str, Any], path: str, step: int, checkpoint: str) -> None:
    """Refuse an ``sdseg-eval`` result of another split or another checkpoint than the one exported.

    The card records it as the test metrics of these weights; scores of the validation split, or of
    the checkpoint of another step (e.g. before training went on), would describe another model.
    """
    if "results" not in metrics:  # not an sdseg-eval result: recorded as given
        return
    again = f"run sdseg-eval CONFIG --split test --checkpoint {checkpoint} --json {path} again"
    if metrics.get("split") not in (None, "test"):
        raise TrainingConfigError(f"--metrics {path}: scores of the {metrics.get('split')!r} split, but the card records "
                                  f"test metrics; {again}.")
    if metrics.get("step") is not None and int(metrics["step"]) != int(step):
        raise TrainingConfigError(f"--metrics {path}: scores of the checkpoint at step {metrics['step']} "
                                  f"({metrics.get('checkpoint')}), but the export is of --checkpoint {checkpoint} at "
                                  f"step {step}; {again}.")


def _summary(metrics: Dict[str, Any]) -> Dict[str, Any]:
    """Keep an sdseg-eval result small for the card: per-class Dice/IoU per number of steps, and the grid scored on.

    ``grid`` (``training``: labels resized to ``data.size``; ``native``: each case's own grid) is kept, so that
    the card says which numbers it holds; a result written before ``--grid`` existed is of the training grid.
    """
    if "results" not in metrics:
        return metrics
    out: Dict[str, Any] = {"split": metrics.get("split"), "checkpoint_step": metrics.get("step"), "seed": metrics.get("seed"),
                           "grid": metrics.get("grid", "training")}
    for key, res in metrics["results"].items():
        out[key] = {"dice": round(res["dice"], 4), "iou": round(res["iou"], 4),
                    "per_class": {c: {"dice": round(v["dice"], 4), "iou": round(v["iou"], 4)} for c, v in res["per_class"].items()}}
    return out


def _publishable(folder: Path) -> None:
    """The engine assembles folders in a private temp dir (mode 0700); make the result world-readable."""
    folder.chmod(0o755)
    for p in folder.iterdir():
        if p.is_file():
            p.chmod(0o644)


def _smoke_load(folder: Path) -> None:
    """Load the exported folder with the engine and run one slice (catches a broken export)."""
    from SDSegLogic.pipeline import SDSegPipeline

    model, card = load_model_folder(folder)
    pipe = SDSegPipeline(model, card, device="cpu", dtype=torch.float32)
    size = model.config.sample_size
    out = pipe(np.zeros((1, 3, size, size), np.float32), seed=0)
    if not torch.isfinite(out.probabilities).all():
        raise TrainingConfigError(f"{folder}: the exported model produces non-finite probabilities.")
