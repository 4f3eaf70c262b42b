"""Checkpoints and their ``state.json`` are flushed to the disk (``fsync``) before and after their rename.

A folder or file renamed into place without ``fsync`` can be empty or truncated after a power loss on some
file systems (ext4 ``data=writeback``, XFS, btrfs). A test cannot cut the power, nor see an ``fsync`` without
mocking the OS, so these tests check what can be seen: the files are complete, the API is unchanged, nested
and read-only files are flushed without error, and a flushing failure of a file is a write error.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch

from sdseg_training.checkpoint import (STATE_NAME, load_checkpoint, save_checkpoint, update_checkpoint_state,
                                       write_folder_atomically)
from SDSegLogic.io.durable import flush_to_disk, flush_tree_to_disk


def _checkpoint(folder, step):
    model = {"w": torch.arange(6, dtype=torch.float32) * step}
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))], lr=1e-3).state_dict()
    return save_checkpoint(folder, model, model, optimizer, {"step": step})


def test_a_replaced_checkpoint_and_its_updated_record_are_complete(tmp_path):
    best = _checkpoint(tmp_path / "checkpoints" / "best", 3)
    assert _checkpoint(best, 5) == best
    update_checkpoint_state(best, best_metric=0.75)
    loaded = load_checkpoint(best)
    assert loaded["state"]["step"] == 5 and loaded["state"]["best_metric"] == 0.75
    assert torch.equal(loaded["model"]["w"], torch.arange(6, dtype=torch.float32) * 5)
    assert json.loads((best / STATE_NAME).read_text(encoding="utf-8"))["best_metric"] == 0.75
    assert sorted(p.name for p in best.parent.iterdir()) == ["best"]  # no staging, aside or temporary file left


def test_nested_and_read_only_files_are_flushed_and_kept(tmp_path):
    def fill(staging):
        (staging / "tb" / "deep").mkdir(parents=True)
        (staging / "tb" / "deep" / "events").write_bytes(b"x" * 70000)
        locked = staging / "notes.txt"
        locked.write_text("kept\n", encoding="utf-8")
        locked.chmod(stat.S_IRUSR)

    folder = write_folder_atomically(tmp_path / "run" / "step-1", fill)
    assert (folder / "tb" / "deep" / "events").read_bytes() == b"x" * 70000
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "kept\n"
    flush_tree_to_disk(folder)  # again, on the final folder: nothing to refuse
    flush_to_disk(folder / "notes.txt")


def test_flushing_a_missing_file_is_an_error_not_silence(tmp_path):
    with pytest.raises(FileNotFoundError):
        flush_to_disk(tmp_path / "gone.safetensors")
    flush_to_disk(tmp_path)  # a folder: flushed (or skipped where the OS cannot)
    assert os.listdir(tmp_path) == []
