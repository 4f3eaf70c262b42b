"""Fixtures and helpers shared by the ``sdseg segment`` tests (test_cli_segment.py, test_cli_outputs.py).

Import the fixtures by name into a test module (``isolated_home`` is autouse there): a private
``$SDSEG_HOME``, a real tiny model folder and a 4-slice crop of the bundled CT.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_test_helpers import make_model_folder

from SDSegLogic.cli import main

__all__ = ["isolated_home", "tiny_folder", "crop", "run", "events", "SAMPLE_CT"]

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CT = REPO / "Resources" / "Samples" / "ct-chest-abdomen.nrrd"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "sdseg-home"))
    monkeypatch.delenv("SDSEG_REGISTRY", raising=False)
    return tmp_path / "sdseg-home" / "models"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "tiny-test")


@pytest.fixture(scope="module")
def crop(tmp_path_factory) -> Path:
    """Slices 30..33 of the bundled CT (4 x 208 x 256 voxels, real geometry)."""
    sitk = pytest.importorskip("SimpleITK")
    path = tmp_path_factory.mktemp("input") / "crop.nrrd"
    sitk.WriteImage(sitk.ReadImage(str(SAMPLE_CT))[:, :, 30:34], str(path), True)
    return path


def run(argv, capsys):
    """``sdseg`` with ``argv`` in this process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def events(out: str) -> list:
    """The JSON events of ``--json`` output, one per line."""
    return [json.loads(line) for line in out.splitlines()]
