"""Whether the frozen stage-1 autoencoder saw masks of a stage-2 run's test split.

Stage 1 (the mask autoencoder) and stage 2 draw their splits separately, each into its own
``split.json``. With the same data settings the two are the same split, but a changed
``data.split_seed``, ``data.test_fraction``, ``data.test_cases`` or split file can put a stage-2
test case (or, for a single-volume dataset, test slices) into the autoencoder's training or
validation masks. The test Dice of the run is then optimistic: the decoder was fitted to those
very masks. The check compares the two split files on disk; it cannot see splits of other kinds
of data (then it says nothing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

__all__ = ["autoencoder_test_overlap", "heldout_overlap_note", "run_split_path"]


def run_split_path(cfg) -> Path:
    """The split file of a stage-2 run: ``data.split_file``, else ``<train.output_dir>/split.json``."""
    return Path(cfg.data.split_file) if cfg.data.split_file else Path(cfg.train.output_dir) / "split.json"


def _read(path: Path) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == "sdseg-split" else None


def _seen_slices(split: Dict[str, Any], parts) -> set:
    slices = split.get("slices")
    if not isinstance(slices, dict):
        return set()
    return {int(s) for part in parts for s in slices.get(part, []) or []}


def autoencoder_test_overlap(autoencoder_source: str, split_path: Path) -> Optional[str]:
    """A warning when the stage-1 autoencoder trained or was selected on masks of this run's test split.

    Args:
        autoencoder_source: ``model.autoencoder`` as resolved (a stage-1 folder holds its
            ``split.json``; ``random``, a file or another kind of folder has none: no warning).
        split_path: the stage-2 run's split file (:func:`run_split_path`).

    Returns:
        The warning text, or None when nothing overlaps or the splits cannot be compared (a
        missing split file, or splits of different kinds of data).
    """
    folder = Path(str(autoencoder_source))
    stage1 = _read(folder / "split.json") if folder.is_dir() else None
    run = _read(Path(split_path))
    if stage1 is None or run is None or stage1.get("kind") != run.get("kind"):
        return None
    seen: List[str] = sorted((set(stage1.get("train", [])) | set(stage1.get("val", []))) & set(run.get("test", [])))
    slices = sorted(_seen_slices(stage1, ("train", "val")) & _seen_slices(run, ("test",)))
    if not seen and not slices:
        return None
    what = []
    if seen:
        what.append(f"{len(seen)} of its test case(s) ({', '.join(seen[:5])}{', ...' if len(seen) > 5 else ''})")
    if slices:
        what.append(f"{len(slices)} of its test slice(s) (first {slices[:5]})")
    return (f"the stage-1 autoencoder {folder} was trained or selected on the masks of {' and '.join(what)} of "
            f"this run's split {split_path}: its test scores are optimistic. Train stage 1 on the same split "
            f"(data.split_file={split_path} in the stage-1 config), or keep those cases out of stage 1.")


def heldout_overlap_note(cfg, trained_sha256: Optional[str] = None) -> Optional[str]:
    """What ``heldout eval`` says about the stage-1 autoencoder of the config it scores an export with.

    The config's frozen autoencoder (``model.autoencoder``; null: ``autoencoder.output_dir``, as in
    training) is taken as the exported model's. Unlike :func:`autoencoder_test_overlap`, a comparison
    that cannot be made is not silent: the scores would otherwise look checked.

    Args:
        trained_sha256: the fingerprint of the autoencoder the export was trained with (the card's
            ``training.autoencoder_sha256``). When the stage-1 folder's weights have another one, its
            kept copy (``replaced/<sha256[:16]>/``) is compared instead; without one the note says the
            split was compared for another autoencoder, naming both digests.

    Returns:
        The overlap warning; or a note that names what is missing and says the check could not be
        made; or None when the splits were compared and nothing overlaps.
    """
    source = cfg.model.autoencoder if cfg.model.autoencoder not in (None, "") else cfg.autoencoder.output_dir
    split_path = run_split_path(cfg)
    head = "could not check whether the stage-1 autoencoder was trained or selected on this run's test cases"
    if source is None or str(source).strip().lower() == "random":
        return f"{head}: the config names no stage-1 folder (model.autoencoder={source}); set it to the run's stage-1 output."
    folder = Path(str(source))
    identity = None
    if trained_sha256 and folder.is_dir():
        folder, identity = _trained_stage1(folder, str(trained_sha256))
    note = _overlap_or_unchecked(folder, split_path, head)
    return " ".join(filter(None, (identity, note))) or None


def _trained_stage1(folder: Path, trained: str):
    """The stage-1 folder holding the weights with fingerprint ``trained`` (``folder`` or its kept copy), and a note.

    Returns:
        ``(folder to compare, note or None)``: None when ``folder``'s weights are those (or it holds none to compare).
    """
    from safetensors.torch import load_file

    from .modeling import stage1_weights, state_fingerprint
    from .stage1_output import find_replaced_stage1

    weights = stage1_weights(folder)
    if weights is None:
        return folder, None
    found = state_fingerprint({k: v.float() for k, v in load_file(str(weights)).items()})
    if found == trained:
        return folder, None
    kept = find_replaced_stage1(folder, trained)
    if kept is not None:
        return kept, (f"{weights} (autoencoder sha256 {found}) is not the autoencoder the model was trained with "
                      f"(sha256 {trained}); the stage-1 split was compared from its kept copy {kept}.")
    return folder, (f"{weights} (autoencoder sha256 {found}) is not the autoencoder the model was trained with "
                    f"(sha256 {trained}, training.autoencoder_sha256 of the model card): the stage-1 overlap below, if "
                    f"any, was checked against another autoencoder's split. Set model.autoencoder to the stage-1 "
                    f"folder the model was trained with.")


def _overlap_or_unchecked(folder: Path, split_path: Path, head: str) -> Optional[str]:
    """:func:`autoencoder_test_overlap` of ``folder``, or why the splits could not be compared."""
    stage1 = _read(folder / "split.json") if folder.is_dir() else None
    run = _read(split_path)
    if stage1 is None:
        return (f"{head}: {folder} holds no readable stage-1 split.json (kl-f8 weights, a file, or a folder copied "
                f"without it); the test scores may be optimistic if stage 1 saw these cases.")
    if run is None:
        return f"{head}: the run's split {split_path} is missing or unreadable."
    if stage1.get("kind") != run.get("kind"):
        return (f"{head}: {folder / 'split.json'} splits {stage1.get('kind')!r} data and {split_path} "
                f"{run.get('kind')!r} data.")
    return autoencoder_test_overlap(str(folder), split_path)
