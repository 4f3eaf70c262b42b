"""Package hygiene: fast import, no Slicer/Qt/training imports, lazy public API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_import_is_fast_and_pulls_in_no_heavy_module():
    out = _run(
        "import sys, time; t = time.perf_counter(); import SDSegLogic; dt = time.perf_counter() - t\n"
        "heavy = [m for m in ('torch', 'diffusers', 'SimpleITK', 'monai', 'nrrd') if m in sys.modules]\n"
        "print(dt, heavy)"
    )
    seconds, heavy = out.split(" ", 1)
    assert heavy.strip() == "[]"
    assert float(seconds) < 1.0


def test_public_api_resolves_lazily():
    out = _run("import SDSegLogic as s; print(s.SDSegPipeline.__name__, s.ModelCard.__name__, s.preset('tiny').preset)")
    assert out.split() == ["SDSegPipeline", "ModelCard", "tiny"]
    with pytest.raises(subprocess.CalledProcessError):
        _run("import SDSegLogic; SDSegLogic.NoSuchThing")


def test_engine_never_imports_slicer_qt_or_training():
    pattern = re.compile(r"^\s*(import|from)\s+(slicer|qt|ctk|PySide6|PyQt5|sdseg_training|training)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "SDSegLogic").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
