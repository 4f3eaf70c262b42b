"""A model zip import that FAILS while a Segment run has started leaves the run's status line in place.

The import waits for another import of the same model (the panel keeps answering), the clinician
presses Segment meanwhile ("Starting the engine ..."), then the import fails (a weight file of the
zip does not match its checksum). ``_errorsShown`` wrote "The model zip was not imported." over the
run's status line, so the panel said nothing about the run until its next progress event. The
error dialog and the log still say what happened (with the file); the run's line stays.

The other import is a real second process holding the model's lock; SDSegWidget on the real .ui
against ``Testing/Slicer/fake_slicer.py``, the real engine and the real tiny model.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_import_helpers import (LONG, OtherImport, cache_home_with_zip, import_while_other_holds,  # noqa: E402
                                   segment_once_the_import_waits, stop_the_run, the_run_s_line)
from slicer_test_helpers import _add_volume, _broken_copy, app, engines, sdseg, tiny_model  # noqa: E402,F401
from test_slicer_models import _zip_model  # noqa: E402

RUN_LINES = ("Starting the engine", "Slice ")  # what a run's status line says before its end
FAILED = "The model zip was not imported."


def test_an_import_failing_during_a_run_keeps_the_run_s_line_and_says_why(app, sdseg, tiny_model, tmp_path, monkeypatch):
    home, _ = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    archive = _zip_model(_broken_copy(tiny_model, tmp_path), tmp_path / "broken.zip")  # same id: waits for the other
    fake, widget = sdseg
    ui = widget.ui
    other = OtherImport(home, "tiny-widget")
    volume = _add_volume(fake, "CT", shape=LONG)
    started = []

    try:
        import_while_other_holds(widget, archive, other, segment_once_the_import_waits(widget, volume, started, other.end))
        assert started and not (home / "tiny-widget" / "0.0.1").exists()
        line = the_run_s_line(widget, started)
        assert line.startswith(RUN_LINES), f"the run's status line was replaced by {line!r}"
        said = ui.statusLog.toPlainText()
        assert FAILED in said and "unet" in said.lower(), said  # the log names what failed and the file
        assert any(FAILED in e for e in fake.errors), fake.errors  # the dialog too
        assert not ui.importModelZipButton.enabled  # the run locks it
    finally:
        assert stop_the_run(app, widget, started)


def test_an_import_failing_without_a_run_still_says_so_in_the_status_line(app, sdseg, tiny_model, tmp_path, monkeypatch):
    """No run: the status line says the import failed, as before."""
    cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    archive = _zip_model(_broken_copy(tiny_model, tmp_path), tmp_path / "broken.zip")
    fake, widget = sdseg
    widget.importModelZip(str(archive))
    assert widget.ui.etaLabel.text == FAILED and any(FAILED in e for e in fake.errors)
    assert widget.ui.importModelZipButton.enabled
