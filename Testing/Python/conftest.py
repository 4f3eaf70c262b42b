"""Shared pytest configuration: keep torch on few threads and give every test a fresh seed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _deterministic_torch():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    yield
