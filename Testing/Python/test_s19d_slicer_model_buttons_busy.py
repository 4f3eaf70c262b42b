"""The model buttons while a model zip is imported or a model folder is checked: disabled, and saying why.

* Use model folder re-enabled itself during its own check: the check pumps Qt events while a
  worker thread reads the weights, and any parameter change meanwhile (the user picks another
  input volume) ran ``_updateState``, which enabled every control; a second click then started a
  second, nested check. Now the button stays disabled until its check ends.
* Import model zip was disabled during an import with its ordinary tooltip, which did not say why.
  Both buttons now say what they wait for while disabled, and say it no more once it has ended.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here) and the tiny model.
"""

from __future__ import annotations

import pytest

QtWidgets = pytest.importorskip("PySide6.QtWidgets")
from PySide6.QtCore import QTimer  # noqa: E402

from slicer_import_helpers import cache_home_with_zip  # noqa: E402
from slicer_test_helpers import _add_volume, app, engines, sdseg, tiny_model  # noqa: E402,F401 - pytest fixtures


def _while_busy(fake, widget, button_name, work):
    """Run ``work()``; meanwhile (first Qt event pump) the user picks another volume. Returns (enabled, tooltip) then."""
    ui = widget.ui
    other, seen = _add_volume(fake, "CT 2"), []

    def meanwhile():
        ui.inputVolumeSelector.setCurrentNode(other)  # a parameter change while the model work runs
        button = getattr(ui, button_name)
        seen.append((button.enabled, button.toolTip))

    QTimer.singleShot(0, meanwhile)
    work()
    assert seen, "the work ended without pumping Qt events"
    return seen[0]


def test_use_model_folder_stays_disabled_during_its_check_and_says_why(app, sdseg, tiny_model):
    fake, widget = sdseg
    ui = widget.ui
    before = ui.useModelFolderButton.toolTip
    enabled, tip = _while_busy(fake, widget, "useModelFolderButton", lambda: widget.useModelFolder(str(tiny_model)))
    assert not enabled, "Use model folder was enabled during its own check"
    assert tip != before and "check" in tip.lower(), tip
    assert ui.useModelFolderButton.enabled and ui.useModelFolderButton.toolTip == before
    assert not fake.errors, fake.errors


def test_import_model_zip_disabled_during_the_import_says_why(app, sdseg, tiny_model, tmp_path, monkeypatch):
    fake, widget = sdseg
    ui = widget.ui
    _home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    before = ui.importModelZipButton.toolTip
    enabled, tip = _while_busy(fake, widget, "importModelZipButton", lambda: widget.importModelZip(str(archive)))
    assert not enabled
    assert tip != before and "import" in tip.lower() and "Cancel import" in tip, tip
    assert ui.importModelZipButton.enabled and ui.importModelZipButton.toolTip == before
    assert not fake.errors, fake.errors
