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
from typing import Any, Optional

from .data.splits import write_json_atomic
from .errors import TrainingConfigError
from .modeling import AE_META, AE_WEIGHTS, save_safetensors_atomic, stage1_weights, state_fingerprint

__all__ = ["REPLACED", "protect_stage1_output", "find_replaced_stage1", "save_stage1"]

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


def save_stage1(out: Path, ae, config, cfg, metrics, step: int, split, seconds: float, previous_steps: int = 0,
                heldout: bool = True) -> None:
    """Write ``autoencoder.safetensors`` and ``autoencoder.json`` (architecture, settings, reconstruction metrics).

    Args:
        heldout: ``metrics`` were scored on the validation split (``heldout_reconstruction``);
            False: on the training masks, for want of a validation split (``train_reconstruction``,
            ``heldout_split`` null), so that no report presents them as held out.
    """
    save_safetensors_atomic(ae.state_dict(), out / AE_WEIGHTS, metadata={"format": "pt", "component": "autoencoder"})
    ae_cfg = cfg.autoencoder
    write_json_atomic(out / AE_META, {
        "format": "sdseg-stage1-autoencoder", "version": 1, "preset": cfg.model.preset,
        "autoencoder": config.to_dict()["autoencoder"], "sample_size": config.sample_size,
        "steps": step, "steps_total": previous_steps + step, "warm_start": ae_cfg.init, "seconds": round(seconds, 1),
        "batch_size": ae_cfg.batch_size, "crop": ae_cfg.crop, "lr": ae_cfg.lr, "lr_schedule": ae_cfg.lr_schedule,
        "kl_weight": ae_cfg.kl_weight,
        "augment": {"flips": True, "rot90": ae_cfg.rot90, "max_shift": ae_cfg.max_shift,
                    "thin_gap_probability": ae_cfg.thin_gap_probability},
        "heldout_reconstruction" if heldout else "train_reconstruction": metrics, "heldout_split": "val" if heldout else None,
        "data_kind": cfg.data.kind,
        "split_sizes": {k: len(v) for k, v in split.items()},
    })
