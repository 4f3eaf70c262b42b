"""Installed versions are compared with version semantics (SDSegLib.install.missing_requirements).

The old comparison compared number tuples as they were written: "0.30" < "0.30.0", so a package at
"X.Y" failed a pin ">=X.Y.0" and Slicer asked to install what was there. Pre-releases ("2.4.0rc1")
counted as the release. Versions are the strings pip reports (``importlib.metadata.version``).
"""

from __future__ import annotations

import pytest

from slicer_logic_helpers import REPO  # noqa: F401 - puts SDSegLib on sys.path


def _missing(line, installed):
    from SDSegLib.install import missing_requirements

    return missing_requirements([line], lambda name: installed)


@pytest.mark.parametrize("installed, line", [
    ("0.30", "diffusers>=0.30.0"),
    ("0.30.0", "diffusers>=0.30"),
    ("2.13.0+cpu", "torch>=2.13.0"),
    ("2.13.0+cu121", "torch>=2.13"),
    ("2", "numpy>=2.0.0"),
    ("1.0.post1", "pynrrd>=1.0"),
    ("0.30.1", "diffusers>=0.30.0"),
    ("2.4.0", "torch>=2.4rc1"),
])
def test_a_version_at_or_above_the_pin_satisfies_it(installed, line):
    assert _missing(line, installed) == []


@pytest.mark.parametrize("installed, line", [
    ("2.4.0rc1", "torch>=2.4"),
    ("2.4.0.dev20240101", "torch>=2.4"),
    ("0.29.9", "diffusers>=0.30.0"),
    ("0.3", "diffusers>=0.30"),
    ("1.0a1", "pynrrd>=1.0"),
])
def test_a_version_below_the_pin_is_missing(installed, line):
    assert _missing(line, installed) == [line]
