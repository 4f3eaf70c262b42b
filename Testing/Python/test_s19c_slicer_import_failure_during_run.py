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
from slicer_import_helpers import OtherImport, cache_home_with_zip, import_while_other_holds  # noqa: E402
from slicer_test_helpers import (_add_volume, _broken_copy, _idle_panel, _segment, _until, app, engines,  # noqa: E402,F401
                                 sdseg, tiny_model)
from test_slicer_models import _zip_model  # noqa: E402

LONG = (600, 32, 32)  # one slice a batch: a run still going on when the import has failed
RUN_LINES = ("Starting the engine", "Slice ")  # what a run's status line says before its end
FAILED = "The model zip was not imported."


def test_an_import_failing_during_a_run_keeps_the_run_s_line_and_says_why(app, sdseg, tiny_model, tmp_path, monkeypatch):
    home, _ = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    archive = _zip_model(_broken_copy(tiny_model, tmp_path), tmp_path / "broken.zip")  # same id: waits for the other
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    other = OtherImport(home, "tiny-widget")
    volume = _add_volume(fake, "CT", shape=LONG)
    started = []

    def segment_while_the_import_waits():
        if "being imported" in ui.statusLog.toPlainText() and not started:
            p.batchSize = 1
            started.append(_segment(widget, volume))
            other.end()

    try:
        import_while_other_holds(widget, archive, other, segment_while_the_import_waits)
        assert started and not (home / "tiny-widget" / "0.0.1").exists()
        job = started[0]
        if widget._job is not job:
            pytest.fail("the run ended before the import did; the test needs a longer run")
        line = ui.etaLabel.text
        assert line.startswith(RUN_LINES), f"the run's status line was replaced by {line!r}"
        said = ui.statusLog.toPlainText()
        assert FAILED in said and "unet" in said.lower(), said  # the log names what failed and the file
        assert any(FAILED in e for e in fake.errors), fake.errors  # the dialog too
        assert not ui.importModelZipButton.enabled  # the run locks it
    finally:
        if widget._job is not None:
            ui.segmentButton.click()
        assert not started or _until(app, lambda: started[0].finished) and _idle_panel(widget)


def test_an_import_failing_without_a_run_still_says_so_in_the_status_line(app, sdseg, tiny_model, tmp_path, monkeypatch):
    """No run: the status line says the import failed, as before."""
    cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    archive = _zip_model(_broken_copy(tiny_model, tmp_path), tmp_path / "broken.zip")
    fake, widget = sdseg
    widget.importModelZip(str(archive))
    assert widget.ui.etaLabel.text == FAILED and any(FAILED in e for e in fake.errors)
    assert widget.ui.importModelZipButton.enabled
