"""Shared fixtures of test_slicer_logic.py and test_slicer_models.py: a tiny two-class model folder and an engine manager.

Also puts SDSegExtension (SDSegLib) and Testing/Slicer (fake_slicer: MRML cannot exist outside 3D
Slicer) on ``sys.path``. Free of Qt, so the logic tests need no PySide6.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "SDSegExtension"))
sys.path.insert(0, str(REPO / "Testing" / "Slicer"))  # fake_slicer: MRML cannot exist outside 3D Slicer

from engine_fixtures import TINY_CLASSES, make_tiny_model  # noqa: E402
from SDSegLib.engine_runner import EngineManager  # noqa: E402



@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-two", classes=TINY_CLASSES, model_id="tiny-two")


@pytest.fixture(scope="module")
def manager():
    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1"))
    engines.logs = logs
    yield engines
    engines.stop()
