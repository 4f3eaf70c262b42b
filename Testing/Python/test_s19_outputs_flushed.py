"""An output is flushed to the disk before its rename, and its folder after (as the training checkpoints are).

A rename can reach the disk before the data on some file systems (ext4 data=writeback, XFS, btrfs): after a power
loss the segmentation would be an empty file under its final name. A power loss cannot be made here; ``os.fsync``
is wrapped (not replaced: it still flushes) to see which files and folders were flushed, and in which order.
"""

from __future__ import annotations

import os
from pathlib import Path

from SDSegLogic.io import atomic


def _recording_fsync(monkeypatch, events):
    real_fsync = os.fsync

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd))
        return real_fsync(fd)

    real_replace = os.replace

    def replace(src, dst):
        events.append(("replace", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    monkeypatch.setattr("SDSegLogic.io.durable.os.fsync", fsync)


def test_an_output_is_flushed_before_its_name_and_its_folder_after(tmp_path, monkeypatch):
    events = []
    _recording_fsync(monkeypatch, events)
    target = tmp_path / "ct.seg.nrrd"
    with atomic.atomic_output(target) as temp:
        Path(temp).write_bytes(b"NRRD0004\n")
    assert target.read_bytes() == b"NRRD0004\n"
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    if os.path.exists("/proc/self/fd"):
        assert Path(events[0][1]).parent == tmp_path and events[2][1] == str(tmp_path)


def test_outputs_replaced_together_are_flushed_before_their_names(tmp_path, monkeypatch):
    events = []
    _recording_fsync(monkeypatch, events)
    pairs = []
    for name in ("a.nrrd", "b.png"):
        with atomic.atomic_output(tmp_path / name, replace=False) as temp:
            Path(temp).write_bytes(name.encode())
        pairs.append((Path(temp), tmp_path / name))
    atomic.replace_together(pairs)
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["fsync", "fsync"] and kinds[2:4] == ["replace", "replace"] and kinds[4:] == ["fsync"], events
    assert (tmp_path / "a.nrrd").read_bytes() == b"a.nrrd" and (tmp_path / "b.png").read_bytes() == b"b.png"
