"""Shared pytest configuration: keep torch on few threads and give every test a fresh seed."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The Ctrl-C tests stand for a user at a terminal. Started from a non-interactive shell's background job
# (`pytest ... &`), pytest and every child it spawns would inherit SIGINT *ignored*, which the engine and
# `sdseg segment` rightly leave ignored; handling it here makes children start with the default again
# (a handled signal is reset at exec, an ignored one is not).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    yield
