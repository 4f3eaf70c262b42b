"""The process umask is read without zeroing it where the system can tell it (Linux /proc/self/status).

Zeroing the umask for an instant (``os.umask(0)`` then back) races with any other thread creating a file, which
then gets mode 0666/0777: the engine's jobs and Slicer's GUI thread create files beside a model import. The test
replaces ``os.umask`` with a function that fails, to see whether it is called at all; no SDSeg component is mocked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from SDSegLogic.io import atomic

STATUS = Path("/proc/self/status")


@pytest.mark.skipif(not (STATUS.exists() and "Umask:" in STATUS.read_text(errors="replace")),
                    reason="the system does not report the umask in /proc/self/status")
def test_umask_is_read_without_being_changed(monkeypatch):
    previous = os.umask(0o027)
    try:
        def never(mask):  # what an instant of umask 0 would take
            raise AssertionError(f"os.umask({mask:#o}) was called: another thread's files could get no umask")

        monkeypatch.setattr(atomic.os, "umask", never)
        assert atomic.current_umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(previous)


def test_umask_value_matches_the_process_setting():
    previous = os.umask(0o077)
    try:
        assert atomic.current_umask() == 0o077
        assert os.umask(0o077) == 0o077, "current_umask left another umask behind"
    finally:
        os.umask(previous)
