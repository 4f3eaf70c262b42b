"""Which checkpoint a stage-2 invocation starts from, and whether it may start a new run in its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .checkpoint import has_checkpoints, latest_checkpoint, recover_interrupted_swap, remove_run_files
from .errors import ResumeError

__all__ = ["claim_run_folder", "resume_path"]


def claim_run_folder(out: Path, resume: Optional[str], overwrite: bool, acc) -> None:
    """Refuse to start a new run over another run's checkpoints (or clear them with ``overwrite``).

    Args:
        out: ``train.output_dir``.
        resume: ``"auto"``, ``"none"`` (or empty) or a checkpoint folder.
        overwrite: with ``resume="none"``: remove what an earlier run wrote there first (main process).
        acc: the ``accelerate.Accelerator`` (main process, barrier, print).

    Raises:
        ResumeError: naming the folder and the remedies.
    """
    fresh = resume in (None, "none", "")
    if overwrite and not fresh:
        raise ResumeError(f"overwrite starts a new run in {out}; it does not go with --resume {resume} (use --resume none).")
    if resume == "auto" and latest_checkpoint(out) is None and has_checkpoints(out):  # only best: not a new run
        best = out / "checkpoints" / "best"
        raise ResumeError(f"{out} holds the best checkpoint of a run but no step checkpoint to continue from; a new "
                          f"run there would replace it. Continue from it with --resume {best}, set another "
                          "train.output_dir, or pass --overwrite to delete it first.")
    if not fresh or not has_checkpoints(out):
        return
    if not overwrite:
        raise ResumeError(
            f"{out} already holds the checkpoints of a run; a new run there would mix with it. Set another "
            "train.output_dir, continue that run with --resume auto, or pass --overwrite to delete its "
            "checkpoints, best model and config record first."
        )
    if acc.is_main_process:
        removed = remove_run_files(out)
        acc.print(f"--overwrite: removed {len(removed)} item(s) of the earlier run in {out}")
    acc.wait_for_everyone()


def resume_path(out: Path, resume: Optional[str]) -> Optional[Path]:
    """The checkpoint folder to resume from: none, the latest of ``out`` (``auto``), or the one given.

    Raises:
        ResumeError: a given folder that does not exist.
    """
    if resume in (None, "none", ""):
        return None
    if resume == "auto":
        return latest_checkpoint(out)
    path = Path(resume)
    recover_interrupted_swap(path)  # e.g. --resume .../best left aside by a crash while it was replaced
    if not path.is_dir():
        raise ResumeError(f"--resume {path}: no such checkpoint folder.")
    return path
