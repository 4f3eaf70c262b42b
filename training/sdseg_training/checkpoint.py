"""Training checkpoints for exact resume: safetensors for every tensor, JSON for every scalar.

A checkpoint is a folder ``<output_dir>/checkpoints/step-00001000/``::

    model.safetensors      trainable weights: ``condition_encoder.*`` and ``unet.*`` (float32)
    ema.safetensors        the EMA UNet
    optimizer.safetensors  AdamW state flattened to ``state.<param index>.<name>`` tensors
    rng-rank<r>.safetensors  torch CPU (and CUDA) generator states of process r
    state.json             step, batches consumed, EMA updates, lr, optimizer param groups and
                           non-tensor state, grad-scaler state, NumPy/Python RNG states,
                           scale_factor, best metric, the training config

Nothing is pickled: optimizer state is flattened (``flatten_optimizer_state``) and rebuilt into
the ``torch.optim.Optimizer.state_dict()`` structure on load. Folders are written under a
temporary name, flushed to the disk (``fsync``, :mod:`.durable`) and renamed, so neither a crash nor
a power loss leaves a checkpoint that looks complete.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from SDSegLogic.io.durable import flush_to_disk, flush_tree_to_disk
from .errors import CheckpointWriteError, ResumeError

__all__ = [
    "flatten_optimizer_state",
    "unflatten_optimizer_state",
    "capture_rng",
    "cuda_rng_states",
    "restore_rng",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "has_checkpoints",
    "prune_step_checkpoints",
    "remove_run_files",
    "update_checkpoint_state",
    "best_record_after_crash",
    "STATE_NAME",
]

STATE_NAME = "state.json"


def flatten_optimizer_state(state_dict: Dict[str, Any]) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON-able scalars."""
    tensors: Dict[str, torch.Tensor] = {}
    scalars: Dict[str, Dict[str, Any]] = {}
    for pid, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def unflatten_optimizer_state(tensors: Dict[str, torch.Tensor], meta: Dict[str, Any]) -> Dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`."""
    state: Dict[int, Dict[str, Any]] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, entry in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


def capture_rng() -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Global RNG states of torch (CPU, CUDA), NumPy and Python."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    py_version, py_state, py_gauss = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [py_version, list(py_state), py_gauss]}
    return tensors, meta


def gather_rank_rng(accelerator: Any, rng: Tuple[Dict[str, torch.Tensor], Dict[str, Any]]) -> Optional[Dict[int, Tuple[dict, dict]]]:
    """Every process's RNG states, collected on the main process (all processes must call it).

    Args:
        accelerator: the run's ``accelerate.Accelerator``.
        rng: this process's :func:`capture_rng`.

    Returns:
        ``{rank: rng}`` on the main process, so that it writes every rank's states inside the one
        atomically renamed checkpoint folder (a checkpoint is never visible without them); None
        on the other processes.
    """
    if accelerator.num_processes <= 1:
        return {0: rng}
    import torch.distributed as dist

    gathered: Optional[List[Any]] = [None] * accelerator.num_processes if accelerator.is_main_process else None
    dist.gather_object(rng, gathered, dst=0)
    return dict(enumerate(gathered)) if gathered is not None else None


def cuda_rng_states(tensors: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
    """The CUDA generator states of :func:`capture_rng` in device order (``torch_cuda_<i>``, i = 0, 1, ...).

    Ordered by the device number, not by the key's text, in which ``torch_cuda_10`` comes before
    ``torch_cuda_2``: with 10 or more GPUs a text order would give states to the wrong devices.

    Raises:
        ResumeError: a key whose suffix is not a device number, or numbers with a gap (a state missing).
    """
    prefix = "torch_cuda_"
    names = [k for k in tensors if k.startswith(prefix)]
    bad = [k for k in names if not k[len(prefix):].isdigit()]
    if bad:
        raise ResumeError(f"RNG states {bad}: expected torch_cuda_<device number>; the checkpoint's rng file is not "
                          "one this trainer wrote.")
    order = sorted(names, key=lambda k: int(k[len(prefix):]))
    if [int(k[len(prefix):]) for k in order] != list(range(len(order))):
        raise ResumeError(f"RNG states {order}: the CUDA devices must be numbered 0..{len(order) - 1} without gaps; "
                          "the checkpoint's rng file is incomplete.")
    return [tensors[k] for k in order]


def restore_rng(tensors: Dict[str, torch.Tensor], meta: Dict[str, Any]) -> None:
    """Set the generators from :func:`capture_rng`'s states (CUDA ones in device order: :func:`cuda_rng_states`)."""
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = cuda_rng_states(tensors)
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, state, gauss = meta["python"]
    random.setstate((version, tuple(state), gauss))


def _save_st(tensors: Dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def save_checkpoint(folder: Path, model_tensors: Dict[str, torch.Tensor], ema_tensors: Dict[str, torch.Tensor],
                    optimizer_state: Dict[str, Any], state: Dict[str, Any], rank_rng: Optional[Dict[int, Tuple[dict, dict]]] = None) -> Path:
    """Write one checkpoint folder atomically (see module docstring); returns its path."""

    def fill(staging: Path) -> None:
        _save_st(model_tensors, staging / "model.safetensors")
        _save_st(ema_tensors, staging / "ema.safetensors")
        opt_tensors, opt_meta = flatten_optimizer_state(optimizer_state)
        _save_st(opt_tensors or {"_empty": torch.zeros(0)}, staging / "optimizer.safetensors")
        rng_meta = {}
        for rank, (tensors, meta) in (rank_rng or {}).items():
            _save_st(tensors, staging / f"rng-rank{rank}.safetensors")
            rng_meta[str(rank)] = meta
        payload = {**state, "optimizer": opt_meta, "rng": rng_meta, "format": "sdseg-train-checkpoint", "version": 1}
        (staging / STATE_NAME).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")

    return write_folder_atomically(folder, fill)


def write_folder_atomically(folder: Path, fill: Callable[[Path], None]) -> Path:
    """Fill a hidden staging folder next to ``folder``, then swap it in (one rename); returns ``folder``.

    A crash or Ctrl-C while ``fill`` writes leaves the previous ``folder`` (if any) untouched and
    removes the staging folder; a write that fails (disk full, a blocked path) raises
    :class:`~.errors.CheckpointWriteError` naming the folder and the remedy. The previous folder is renamed aside (``.<name>.old``) before the
    new one takes its place and deleted only after: a crash between the two renames leaves it
    aside, and :func:`recover_interrupted_swap` (run here and by :func:`load_checkpoint`) puts it
    back, so a checkpoint such as ``best`` is never lost.

    Args:
        folder: the folder to create or replace.
        fill: writes the folder's files into the staging folder it is given.
    """
    folder = Path(folder)
    staging, aside = folder.with_name(f".{folder.name}.tmp"), folder.with_name(f".{folder.name}.old")
    recover_interrupted_swap(folder)
    shutil.rmtree(aside, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        fill(staging)
        flush_tree_to_disk(staging)  # the data on disk before the rename that makes it the checkpoint
        if folder.exists():
            os.replace(folder, aside)
        os.replace(staging, folder)
        flush_to_disk(folder.parent)  # and the renames
    except BaseException as exc:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        recover_interrupted_swap(folder)
        if isinstance(exc, OSError) and not isinstance(exc, ResumeError) or type(exc).__name__ == "SafetensorError":
            raise CheckpointWriteError(  # disk full, a blocked path: a run error, not a bug
                f"{folder}: could not write the checkpoint ({' '.join(str(exc).split())}); the checkpoints written before "
                f"are untouched in {folder.parent}. Free disk space (or remove what blocks {staging.name} there) and run "
                "the same command again: it resumes from the latest checkpoint.") from exc
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return folder


def recover_interrupted_swap(folder: Path) -> None:
    """Put back ``folder`` from its ``.<name>.old`` copy when a swap stopped between its two renames."""
    folder = Path(folder)
    aside = folder.with_name(f".{folder.name}.old")
    if not folder.exists() and aside.is_dir():
        try:
            os.replace(aside, folder)
        except FileNotFoundError:  # another process of the run put it back first
            if not folder.is_dir():
                raise


def load_checkpoint(folder: Path, rank: int = 0) -> Dict[str, Any]:
    """Read a checkpoint folder; returns dict with model, ema, optimizer (rebuilt), rng, state."""
    from safetensors.torch import load_file

    folder = Path(folder)
    recover_interrupted_swap(folder)
    needed = ["model.safetensors", "ema.safetensors", "optimizer.safetensors", STATE_NAME]
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise ResumeError(f"{folder}: incomplete checkpoint (missing {missing}); resume from an earlier one or start over with --resume none.")
    state = json.loads((folder / STATE_NAME).read_text(encoding="utf-8"))
    opt_tensors = {k: v for k, v in load_file(str(folder / "optimizer.safetensors")).items() if k != "_empty"}
    rng_path = folder / f"rng-rank{rank}.safetensors"
    rng_meta = state.get("rng", {}).get(str(rank))
    if rng_meta is None and (folder / f"rng-rank{rank}.json").is_file():  # older checkpoints: ranks > 0 wrote their own
        rng_meta = json.loads((folder / f"rng-rank{rank}.json").read_text(encoding="utf-8"))
    rng = (load_file(str(rng_path)), rng_meta) if rng_path.is_file() and rng_meta is not None else None
    return {
        "model": load_file(str(folder / "model.safetensors")),
        "ema": load_file(str(folder / "ema.safetensors")),
        "optimizer": unflatten_optimizer_state(opt_tensors, state["optimizer"]),
        "rng": rng,
        "state": state,
    }


def latest_checkpoint(output_dir: Path) -> Optional[Path]:
    """The checkpoint with the highest step under ``<output_dir>/checkpoints`` (or None).

    A step checkpoint set aside (``.step-<n>.old``) by a crash while it was replaced is put back
    first (:func:`recover_interrupted_swap`, as :func:`load_checkpoint` does), so that it counts.
    """
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return None
    for aside in [p for p in root.iterdir() if p.name.startswith(".step-") and p.name.endswith(".old")]:
        if _is_checkpoint_name(aside.name) and aside.is_dir():
            recover_interrupted_swap(root / aside.name[1:-4])
    found: List[Path] = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and (p / STATE_NAME).is_file())
    return found[-1] if found else None


def prune_step_checkpoints(output_dir: Path, step: int, keep: int) -> List[Path]:
    """After step checkpoint ``step`` was written: remove all but the ``keep`` newest up to it, never ``step``.

    Step checkpoints numbered after ``step`` (a branch a resumed run left) are not this function's:
    the trainer sets them aside first (:mod:`.left_branch`), and any still here are left alone.

    Args:
        output_dir: the run folder (``train.output_dir``).
        step: the step checkpoint just written (``step-<step>``).
        keep: how many step checkpoints to keep (``train.keep_checkpoints``, at least 1).

    Returns:
        The removed checkpoint folders.
    """
    root = Path(output_dir) / "checkpoints"
    steps = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and _is_checkpoint_name(p.name)
                   and int(p.name[5:]) <= int(step))
    removed = steps[: max(0, len(steps) - max(1, int(keep)))]
    for old in removed:
        shutil.rmtree(old, ignore_errors=True)
    return removed


def _is_checkpoint_name(name: str) -> bool:
    """Names the trainer gives checkpoint folders (and their staging folders): ``step-<8 digits>``, ``best``."""
    if name.startswith(".") and name.endswith((".tmp", ".old")):  # a staging folder, or one set aside by a swap
        name = name[1:-4]
    return name == "best" or (name.startswith("step-") and name[5:].isdigit() and len(name) == 13)


def has_checkpoints(output_dir: Path) -> bool:
    """Whether ``<output_dir>/checkpoints`` holds a step or ``best`` checkpoint of a run.

    A checkpoint set aside (``.<name>.old``) by a crash during its replacement counts: it is put
    back when read (:func:`recover_interrupted_swap`). Staging folders (``.<name>.tmp``) do not.
    """
    root = Path(output_dir) / "checkpoints"
    return root.is_dir() and any(p.is_dir() and _is_checkpoint_name(p.name) and not p.name.endswith(".tmp") for p in root.iterdir())


def remove_run_files(output_dir: Path) -> List[Path]:
    """Delete what the stage-2 trainer wrote in a run folder, so that a new run can start there.

    Removed: the checkpoint folders under ``checkpoints/`` (``step-<n>``, ``best`` and their
    staging folders), ``config.resolved.json``, ``config.resumed-at-step-*.json`` and the
    TensorBoard event files in ``tb/``. Kept: ``split.json`` (the new run reuses the split) and
    every other file (``checkpoints/`` and ``tb/`` themselves are removed only once empty).

    Returns:
        The removed paths.
    """
    out = Path(output_dir)
    removed: List[Path] = []
    root = out / "checkpoints"
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.is_dir() and not p.is_symlink() and _is_checkpoint_name(p.name):
                shutil.rmtree(p)
                removed.append(p)
    tb = out / "tb"
    if tb.is_dir():
        for p in sorted(tb.glob("events.out.tfevents.*")):
            if p.is_file():
                p.unlink()
                removed.append(p)
    for p in [out / "config.resolved.json", *sorted(out.glob("config.resumed-at-step-*.json"))]:
        if p.is_file():
            p.unlink()
            removed.append(p)
    for folder in (root, tb):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def update_checkpoint_state(folder: Path, **fields: Any) -> None:
    """Replace top-level fields of a checkpoint's ``state.json`` (atomically: temporary file, rename)."""
    path = Path(folder) / STATE_NAME
    state = json.loads(path.read_text(encoding="utf-8"))
    state.update(fields)
    tmp = path.with_name(f".{STATE_NAME}.tmp")
    try:
        tmp.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        flush_to_disk(tmp)
        os.replace(tmp, path)
        flush_to_disk(path.parent)
    except OSError as exc:
        if tmp.is_file():
            tmp.unlink()
        raise CheckpointWriteError(f"{path}: could not update the checkpoint's record ({' '.join(str(exc).split())}); "
                                   f"the record is as it was. Free disk space (or remove what blocks {tmp.name}) and run "
                                   "the same command again: it resumes from the latest checkpoint.") from exc


def best_record_after_crash(folder: Path, state: Dict[str, Any]) -> Optional[Tuple[Dict[str, Any], List[Dict[str, Any]]]]:
    """The best record (and validation history) of step checkpoint ``folder`` when its own record is stale.

    The trainer saves step n, validates, saves a new ``best`` (its ``state.json`` written with its
    weights, atomically) and then writes the new record into step n (:func:`update_checkpoint_state`).
    A crash between the last two leaves step n naming an older best, while the sibling ``best``
    holds step n's weights; a resume would then let a worse step replace them. ``best``'s own
    record is the true one.

    Args:
        folder: a step checkpoint ``<output_dir>/checkpoints/step-<n>``.
        state: its ``state.json`` as already read (every process of a run decides from that one read).

    Returns:
        ``(best, history)`` from the sibling ``best`` when it holds step n's weights as the best
        while step n's record names another step; None when step n's record is current.
    """
    best_folder = Path(folder).parent / "best"
    if not best_folder.is_dir():  # left aside by a crash while replaced: read it there (renames are left to one process)
        best_folder = best_folder.with_name(".best.old")
    try:
        saved = json.loads((best_folder / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    step, record = state.get("step"), saved.get("best") or {}
    if step is None or saved.get("step") != step or record.get("step") != step or (state.get("best") or {}).get("step") == step:
        return None
    return dict(record), list(saved.get("history") or state.get("history") or [])
