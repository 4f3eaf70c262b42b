"""Step checkpoints of a branch a resumed run left: set aside, never deleted.

A run resumed from an earlier checkpoint of its own folder (``--resume .../step-<n>`` or ``--resume best``
while later steps exist) trains a new branch. The old branch's later step checkpoints would otherwise
stay the newest (``--resume auto`` would go back to them) or be overwritten one by one under the same
names. Before the new branch writes its first step checkpoint, every step checkpoint numbered after the
one it resumed from (``r``) is moved, whole, to ``<output_dir>/left-branches/after-step-<r>/``, where the
user can still resume from it, evaluate it, or delete it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List

__all__ = ["LEFT_BRANCHES", "set_aside_left_branch"]

LEFT_BRANCHES = "left-branches"
_STEP_NAME = re.compile(r"^step-\d{8}$")


def set_aside_left_branch(output_dir: Path, after_step: int) -> List[Path]:
    """Move the step checkpoints numbered after ``after_step`` out of ``<output_dir>/checkpoints``.

    Args:
        output_dir: the run folder (``train.output_dir``).
        after_step: the step the run resumed from (its own checkpoint stays where it is).

    Returns:
        The new paths of the moved checkpoint folders (empty on an ordinary run, where none exist).
    """
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    later = sorted(p for p in root.iterdir()
                   if p.is_dir() and not p.is_symlink() and _STEP_NAME.match(p.name) and int(p.name[5:]) > int(after_step))
    if not later:
        return []
    target = Path(output_dir) / LEFT_BRANCHES / f"after-step-{int(after_step):08d}"
    n = 1
    while target.exists():  # left twice from the same step: keep both
        n += 1
        target = Path(output_dir) / LEFT_BRANCHES / f"after-step-{int(after_step):08d}-{n}"
    target.mkdir(parents=True)
    moved = []
    for folder in later:
        os.replace(folder, target / folder.name)  # same file system: a rename, nothing copied
        moved.append(target / folder.name)
    return moved
