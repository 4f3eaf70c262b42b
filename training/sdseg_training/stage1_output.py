"""The stage-1 output folder: writing it, and protecting a trained one from being replaced.

Every stage-2 run records the sha256 of the frozen autoencoder it trained against
(``autoencoder_sha256`` in its checkpoints); evaluation, resuming and export refuse any other
weights. Training stage 1 again into the same ``autoencoder.output_dir`` would therefore strand
every run trained on the old weights, so :func:`protect_stage1_output` refuses unless asked, and
when asked keeps the replaced weights in ``<output_dir>/replaced/<sha256[:16]>/`` (a complete
stage-1 folder that ``model.autoencoder`` can name; a hard link where the file system allows).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Optional, Tuple

from .data.splits import write_json_atomic
from .errors import TrainingConfigError
from .modeling import AE_META, AE_WEIGHTS, save_safetensors_atomic, stage1_weights, state_fingerprint

__all__ = ["REPLACED", "protect_stage1_output", "find_replaced_stage1", "save_stage1", "stale_meta_note", "warm_start_steps"]

#: Subfolder of a stage-1 output where replaced weights are kept, one folder per fingerprint.
REPLACED = "replaced"


def protect_stage1_output(out: Path, overwrite: bool, log=print) -> Optional[Path]:
    """Refuse to train into a stage-1 folder that already holds a trained autoencoder, unless ``overwrite``.

    Args:
        out: ``autoencoder.output_dir``.
        overwrite: replace the trained weights; they are kept first (see module docstring).
        log: receives one line naming the kept copy.

    Returns:
        The folder the replaced weights were kept in, or None when there were none.

    Raises:
        TrainingConfigError: ``out`` holds trained weights and ``overwrite`` is False.
    """
    from safetensors.torch import load_file

    out = Path(out)
    weights = stage1_weights(out)
    if weights is None:
        return None
    if not overwrite:
        raise TrainingConfigError(
            f"autoencoder.output_dir={out} already holds a trained stage-1 autoencoder ({weights.name}). Training "
            "again would replace it, and every stage-2 run trained on it could then no longer be evaluated, resumed "
            f"or exported. Choose a new folder (autoencoder.output_dir={out}-2; add autoencoder.init={out} to "
            "continue from these weights), or ask to overwrite (sdseg-train-ae --overwrite): the replaced weights "
            f"are then kept in {out / REPLACED}/<sha256>/."
        )
    sha = state_fingerprint({k: v.float() for k, v in load_file(str(weights)).items()})
    keep = out / REPLACED / sha[:16]
    keep.mkdir(parents=True, exist_ok=True)
    for path in (weights, out / AE_META, out / "split.json"):
        if path.is_file() and not (keep / path.name).exists():
            try:
                os.link(path, keep / path.name)  # the new weights are written to a new file and renamed over it
            except OSError:
                shutil.copy2(path, keep / path.name)
    write_json_atomic(keep / "replaced.json", {"autoencoder_sha256": sha, "replaced_in": str(out)})
    log(f"overwriting {out}: the replaced autoencoder (sha256 {sha}) is kept in {keep}; stage-2 runs trained on it "
        f"need model.autoencoder={keep}.")
    return keep


def find_replaced_stage1(source: Any, sha256: str) -> Optional[Path]:
    """The kept copy of a replaced stage-1 autoencoder with fingerprint ``sha256`` under ``source``, if any."""
    if not source or not sha256:
        return None
    folder = Path(str(source))
    folder = folder if folder.is_dir() else folder.parent
    for base in (folder, folder.parent):  # source may itself be a kept copy
        candidate = base / REPLACED / sha256[:16] if base.name != REPLACED else base / sha256[:16]
        if stage1_weights(candidate) is not None:
            return candidate
    return None


def save_stage1(out: Path, ae, config, cfg, metrics, step: int, split, seconds: float, previous_steps: Optional[int] = 0,
                heldout: bool = True) -> None:
    """Write ``autoencoder.safetensors`` and ``autoencoder.json`` (architecture, settings, reconstruction metrics).

    Args:
        heldout: ``metrics`` were scored on the validation split (``heldout_reconstruction``);
            False: on the training masks, for want of a validation split (``train_reconstruction``,
            ``heldout_split`` null), so that no report presents them as held out.
    """
    from .stage1_resume import file_sha256

    save_safetensors_atomic(ae.state_dict(), out / AE_WEIGHTS, metadata={"format": "pt", "component": "autoencoder"})
    ae_cfg = cfg.autoencoder
    write_json_atomic(out / AE_META, {  # after the weights, naming them: a crash in between leaves a record stale_meta_note sees
        "format": "sdseg-stage1-autoencoder", "version": 1, "preset": cfg.model.preset,
        "weights_sha256": file_sha256(out / AE_WEIGHTS),
        "autoencoder": config.to_dict()["autoencoder"], "sample_size": config.sample_size,
        "steps": step, "steps_total": None if previous_steps is None else previous_steps + step, "warm_start": ae_cfg.init, "seconds": round(seconds, 1),
        "batch_size": ae_cfg.batch_size, "crop": ae_cfg.crop, "lr": ae_cfg.lr, "lr_schedule": ae_cfg.lr_schedule,
        "kl_weight": ae_cfg.kl_weight,
        "augment": {"flips": True, "rot90": ae_cfg.rot90, "max_shift": ae_cfg.max_shift,
                    "thin_gap_probability": ae_cfg.thin_gap_probability},
        "heldout_reconstruction" if heldout else "train_reconstruction": metrics, "heldout_split": "val" if heldout else None,
        "data_kind": cfg.data.kind,
        "split_sizes": {k: len(v) for k, v in split.items()},
    })


def stale_meta_note(folder: Path, meta: dict) -> Optional[str]:
    """Why ``autoencoder.json`` of a stage-1 folder does not describe its weights, or None when it does.

    Stage 1 writes the weights, then the record naming their sha256 (``weights_sha256``); a crash
    between the two leaves the record of earlier weights (their step and reconstruction Dice) beside
    the new ones. A record without ``weights_sha256`` (older outputs) is taken as it is.

    Args:
        folder: the stage-1 output folder.
        meta: its ``autoencoder.json`` as read.
    """
    from .stage1_resume import file_sha256

    named = meta.get("weights_sha256")
    if not named:
        return None
    now = file_sha256(Path(folder) / AE_WEIGHTS)
    if now is None or now == named:
        return None
    return (f"{Path(folder) / AE_META} describes other weights than {Path(folder) / AE_WEIGHTS} (sha256 {named} recorded, "
            f"{now} found: stage 1 stopped between writing the weights and their record), so its step count and "
            f"reconstruction Dice are left out; score these weights with `python -m sdseg_training.heldout ae`.")


def warm_start_steps(init: Path) -> Tuple[Optional[int], Optional[str]]:
    """The steps the weights of a stage-1 warm start (``autoencoder.init``) were trained for, from their record.

    ``autoencoder.json`` beside the weights counts them (``steps_total``) only when it names these
    weights (``weights_sha256``): a record left by a crash between writing the weights and their
    record, or a weights file the record does not describe, would add another run's steps. A record
    without ``weights_sha256`` (older outputs) is taken as it is for the folder's own weights file.

    Args:
        init: a stage-1 folder or a weights file (``autoencoder.init``).

    Returns:
        ``(steps, note)``: the earlier steps (0 without a record) and None; or None (unknown) and
        why the record was not used.
    """
    from .modeling import read_autoencoder_meta
    from .stage1_resume import file_sha256

    init = Path(init)
    weights, folder = (init / AE_WEIGHTS, init) if init.is_dir() else (init, init.parent)
    meta = read_autoencoder_meta(folder)
    if not meta:
        return 0, None
    named = meta.get("weights_sha256")
    if named is None and weights.name == AE_WEIGHTS:  # an older record: it describes the folder's weights file
        return int(meta.get("steps_total", meta.get("steps", 0)) or 0), None
    found = file_sha256(weights)
    if named is not None and found == named:
        return int(meta.get("steps_total", meta.get("steps", 0)) or 0), None
    return None, (f"autoencoder.init={init}: {folder / AE_META} describes other weights than {weights} (sha256 "
                  f"{named or 'not recorded'} in the record, {found} found; e.g. stage 1 stopped between writing the "
                  "weights and their record), so the steps those weights were trained for are unknown: this run's "
                  "autoencoder.json records steps_total null (its own steps under 'steps').")
