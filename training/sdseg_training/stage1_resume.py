"""The resumable checkpoint of an interrupted stage-1 run (Ctrl-C), for an exact resume.

``<autoencoder.output_dir>/stage1-resume/``, written atomically (a temporary folder, renamed)::

    weights.safetensors    the autoencoder as trained at that step (not necessarily the saved output)
    optimizer.safetensors  AdamW state flattened to tensors (:func:`~.checkpoint.flatten_optimizer_state`)
    rng.safetensors        torch CPU (and CUDA) generator states and the loop's own torch generator
    state.json             step, best Dice, the saved output's metrics and sha256, elapsed training
                           seconds, NumPy generator state, grad-scaler state, optimizer scalars,
                           Python/NumPy global RNG, the config, engine model config and class names

``sdseg-train-ae`` resumes from it when it exists (``--overwrite`` starts over instead) and removes
it when the run ends. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from .checkpoint import (STATE_NAME, _save_st, capture_rng, flatten_optimizer_state, restore_rng,
                         unflatten_optimizer_state, write_folder_atomically)
from .errors import ResumeError
from .modeling import AE_WEIGHTS
from .run_compat import check_same_classes, check_same_data, check_same_shape

__all__ = ["RESUME_DIR", "resume_checkpoint", "save_resume_checkpoint", "load_resume_checkpoint", "restore_stage1",
           "remove_resume_checkpoint", "file_sha256"]

RESUME_DIR = "stage1-resume"
FORMAT = "sdseg-stage1-resume"


def resume_checkpoint(out: Path) -> Optional[Path]:
    """The resume checkpoint of the stage-1 folder ``out``, or None."""
    folder = Path(out) / RESUME_DIR
    return folder if (folder / STATE_NAME).is_file() else None


def file_sha256(path: Path) -> Optional[str]:
    """sha256 of a file's bytes, or None when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_resume_checkpoint(out: Path, ae: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                           numpy_state: Dict[str, Any], scaler, state: Dict[str, Any]) -> Path:
    """Write ``<out>/stage1-resume`` atomically; returns it.

    Args:
        out: the stage-1 output folder.
        ae: the autoencoder being trained.
        optimizer: its optimizer.
        generator: the loop's torch generator (posterior samples).
        numpy_state: ``numpy.random.Generator.bit_generator.state`` of the loop's generator.
        scaler: the grad scaler, or None.
        state: the loop's scalars (step, best, saved metrics, seconds, config, ...).
    """

    def fill(staging: Path) -> None:
        _save_st({k: v.float() if v.is_floating_point() else v for k, v in ae.state_dict().items()}, staging / "weights.safetensors")
        opt_tensors, opt_meta = flatten_optimizer_state(optimizer.state_dict())
        _save_st(opt_tensors or {"_empty": torch.zeros(0)}, staging / "optimizer.safetensors")
        rng_tensors, rng_meta = capture_rng()
        _save_st({**rng_tensors, "loop_generator": generator.get_state()}, staging / "rng.safetensors")
        payload = {**state, "optimizer": opt_meta, "rng": rng_meta, "numpy_generator": numpy_state,
                   "grad_scaler": scaler.state_dict() if scaler is not None else None, "format": FORMAT, "version": 1}
        (staging / STATE_NAME).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")

    return write_folder_atomically(Path(out) / RESUME_DIR, fill)


def load_resume_checkpoint(out: Path) -> Dict[str, Any]:
    """Read ``<out>/stage1-resume``: ``weights``, ``optimizer`` (rebuilt), ``rng`` (tensors, meta), ``generator``, ``state``.

    Raises:
        ResumeError: a file is missing or it is not a stage-1 resume checkpoint.
    """
    from safetensors.torch import load_file

    folder = Path(out) / RESUME_DIR
    needed = ["weights.safetensors", "optimizer.safetensors", "rng.safetensors", STATE_NAME]
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise ResumeError(f"{folder}: incomplete stage-1 resume checkpoint (missing {missing}); start over with "
                          "sdseg-train-ae --overwrite.")
    state = json.loads((folder / STATE_NAME).read_text(encoding="utf-8"))
    if state.get("format") != FORMAT:
        raise ResumeError(f"{folder}: not a stage-1 resume checkpoint (format {state.get('format')!r}).")
    rng = load_file(str(folder / "rng.safetensors"))
    generator = rng.pop("loop_generator")
    opt_tensors = {k: v for k, v in load_file(str(folder / "optimizer.safetensors")).items() if k != "_empty"}
    return {"weights": load_file(str(folder / "weights.safetensors")),
            "optimizer": unflatten_optimizer_state(opt_tensors, state["optimizer"]),
            "rng": (rng, state["rng"]), "generator": generator, "state": state}


def restore_stage1(out: Path, ae: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                   numpy_rng, scaler, cfg, config, class_names, log=print) -> Dict[str, Any]:
    """Continue an interrupted stage-1 run: load its resume checkpoint into the loop's objects.

    Args:
        out: the stage-1 output folder.
        ae, optimizer, generator, numpy_rng, scaler: the loop's autoencoder, optimizer, torch and
            NumPy generators and grad scaler (None), built as for a new run.
        cfg: this invocation's config; config: its engine ``SDSegConfig``; class_names: the data's classes.
        log: receives one line.

    Returns:
        The loop state: ``step``, ``best``, ``saved``, ``seconds``, ``previous_steps``.

    Raises:
        TrainingConfigError: the config's classes, data kind, size or window, or autoencoder architecture differ
            from the run's.
        ResumeError: the saved output weights changed since the interruption.
    """
    from SDSegLogic.model_folder import load_state_dict_checked

    folder = Path(out) / RESUME_DIR
    ck = load_resume_checkpoint(out)
    state = ck["state"]
    check_same_classes(folder, state, cfg, class_names, "resume")
    check_same_data(folder, state, cfg, "resume")
    check_same_shape(folder, state.get("model_config"), config, parts=("autoencoder",))
    now = file_sha256(Path(out) / AE_WEIGHTS)
    if now != state.get("output_sha256"):
        raise ResumeError(f"{out / AE_WEIGHTS} changed since the stage-1 run was interrupted at step {state['step']} "
                          f"(sha256 {state.get('output_sha256')} then, {now} now); start over with sdseg-train-ae "
                          "--overwrite (the present weights are then kept under replaced/), or use a new autoencoder.output_dir.")
    device = next(ae.parameters()).device
    load_state_dict_checked(ae, {k: v.to(device) for k, v in ck["weights"].items()}, str(folder))
    optimizer.load_state_dict(ck["optimizer"])
    if scaler is not None and state.get("grad_scaler"):
        scaler.load_state_dict(state["grad_scaler"])
    generator.set_state(ck["generator"])
    numpy_rng.bit_generator.state = state["numpy_generator"]
    restore_rng(*ck["rng"])
    log(f"resuming stage 1 from {folder} at step {state['step']}")
    return {k: state[k] for k in ("step", "best", "saved", "seconds", "previous_steps")}


def remove_resume_checkpoint(out: Path) -> bool:
    """Delete ``<out>/stage1-resume`` (and a staging folder left by a crash); True if one was there."""
    folder = Path(out) / RESUME_DIR
    found = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(folder.with_name(f".{folder.name}.tmp"), ignore_errors=True)
    return found
