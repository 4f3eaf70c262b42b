"""Replacing a checkpoint folder never loses it, even when the process dies between the two renames.

Before, the old folder (``best``) was deleted before the new one was renamed into place: a
SIGKILL or power cut in between left no ``best`` at all. Now the old folder is renamed aside
first and put back by the next write or load. The dying process cannot be reproduced in a test,
so these tests build the exact state it leaves on disk and check the recovery, with real
checkpoint files.
"""

from __future__ import annotations

import os

import pytest
import torch

from sdseg_training.checkpoint import load_checkpoint, save_checkpoint, write_folder_atomically


def _checkpoint(folder, step):
    model = {"w": torch.full((3,), float(step))}
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))], lr=1e-3).state_dict()
    return save_checkpoint(folder, model, model, optimizer, {"step": step})


def test_a_best_left_aside_by_a_killed_swap_is_loaded_and_kept(tmp_path):
    best = _checkpoint(tmp_path / "checkpoints" / "best", 7)
    os.replace(best, best.with_name(".best.old"))  # what a kill between the two renames leaves
    loaded = load_checkpoint(best)
    assert loaded["state"]["step"] == 7 and torch.equal(loaded["model"]["w"], torch.full((3,), 7.0))
    assert best.is_dir() and not best.with_name(".best.old").exists()


def test_the_next_write_after_a_killed_swap_replaces_the_recovered_folder_whole(tmp_path):
    best = _checkpoint(tmp_path / "best", 7)
    os.replace(best, best.with_name(".best.old"))
    _checkpoint(best, 9)
    assert load_checkpoint(best)["state"]["step"] == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_a_failed_fill_keeps_the_previous_folder(tmp_path):
    best = _checkpoint(tmp_path / "best", 7)

    def failing(staging):
        (staging / "partial").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_folder_atomically(best, failing)
    assert load_checkpoint(best)["state"]["step"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
