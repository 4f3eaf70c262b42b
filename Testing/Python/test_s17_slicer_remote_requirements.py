"""The panel's Segment with a remote engine in a Slicer that lacks the engine's packages.

A remote engine brings its own torch and model; the client side needs neither (SDSegLogic's
client imports no torch). Before, the panel's Segment ran the local requirements check anyway, so a
Slicer without torch was asked to install it (in testing mode: refused) before it could use a
remote GPU engine; ``process()`` already skipped it. The requirement made missing is the logic's
own input (its ``requirementsFile``, listing a package that cannot be installed). Real .ui
(PySide6 offscreen), real in-process engine on the tiny model, and
``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer).
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _add_volume, _idle_panel, _segmentations, _until, app, engines, sdseg, tiny_model  # noqa: E402,F401
from test_slicer_busy_wait import TOKEN, engine, pipeline  # noqa: E402,F401 - engine, pipeline are pytest fixtures

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_segment_with_a_remote_engine_does_not_ask_for_local_packages(app, sdseg, engine, tmp_path):
    fake, widget = sdseg
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("surely-not-installed-package-xyz>=1.0\n", encoding="utf-8")
    widget.logic.requirementsFile = requirements
    engine.release.set()  # its jobs run at once
    widget.ui.remoteUrlLineEdit.text = engine.url
    widget.ui.remoteTokenLineEdit.text = TOKEN
    widget.ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    widget.ui.segmentButton.click()
    assert not fake.errors, fake.errors  # before: "SDSeg could not start" listing the missing package
    assert widget._job is not None
    assert _until(app, lambda: widget._job is None) and _idle_panel(widget)
    assert not fake.errors and len(_segmentations(fake)) == 1
