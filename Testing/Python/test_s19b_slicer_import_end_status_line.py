"""A model zip import that ends while a Segment run has started leaves the run's status line in place.

The import waits for another import of the same model (the panel keeps answering), the clinician
presses Segment meanwhile: the status line says "Starting the engine ...". When the import finished,
the panel put back the status line it had before the import over the run's line, so the panel showed
an idle panel's text (or nothing) during the run until the engine's next progress event. Now the
line before the import comes back only when nothing else wrote the status line meanwhile.

Set up as in ``test_s18_slicer_import_during_run``: another import in a real second process holds the
model's lock (``slicer_import_helpers``); the real panel and .ui against the fake Slicer, the real engine and
the real tiny model.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_import_helpers import (LONG, OtherImport, cache_home_with_zip, import_while_other_holds,  # noqa: E402
                                   segment_once_the_import_waits, stop_the_run, the_run_s_line)
from slicer_test_helpers import _add_volume, app, engines, sdseg, tiny_model  # noqa: E402,F401

RUN_LINES = ("Starting the engine", "Slice ")  # what a run's status line says before its end


def test_an_import_ending_during_a_run_keeps_the_run_s_status_line(app, sdseg, tiny_model, tmp_path, monkeypatch):
    home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    fake, widget = sdseg
    ui = widget.ui
    before = ui.etaLabel.text
    other = OtherImport(home, "tiny-widget")
    volume = _add_volume(fake, "CT", shape=LONG)
    started = []

    # a GUI timer: the clinician presses Segment, then the other import ends
    import_while_other_holds(widget, archive, other, segment_once_the_import_waits(widget, volume, started, other.end))
    assert started and (home / "tiny-widget" / "0.0.1").is_dir()
    try:
        line = the_run_s_line(widget, started)
        assert line.startswith(RUN_LINES), f"the run's status line was replaced by {line!r} (before the import: {before!r})"
    finally:
        assert stop_the_run(app, widget, started)


def test_an_import_that_waited_without_a_run_puts_the_line_before_it_back(app, sdseg, tiny_model, tmp_path, monkeypatch):
    """The import's own wait sentence does not stay once it has finished (no run: the earlier line comes back)."""
    home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    fake, widget = sdseg
    ui = widget.ui
    before = ui.etaLabel.text
    other = OtherImport(home, "tiny-widget")
    seen = []

    def end_the_other_import():
        if "being imported" in ui.etaLabel.text and not seen:
            seen.append(ui.etaLabel.text)
            other.end()

    import_while_other_holds(widget, archive, other, end_the_other_import)
    assert seen and ui.etaLabel.text == before, (seen, ui.etaLabel.text)


def test_an_import_cancelled_during_a_run_says_so_in_the_log_not_over_the_run_s_line(app, sdseg, tiny_model, tmp_path,
                                                                                        monkeypatch):
    """Cancel import pressed after Segment: "Model zip import cancelled" went over "Starting the engine ..." too."""
    home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    fake, widget = sdseg
    ui = widget.ui
    other = OtherImport(home, "tiny-widget")
    volume = _add_volume(fake, "CT", shape=LONG)
    started = []

    cancel_the_import = ui.cancelImportButton.click  # the clinician gives up on the import; the run goes on
    try:
        import_while_other_holds(widget, archive, other, segment_once_the_import_waits(widget, volume, started,
                                                                                       cancel_the_import))
        assert started and not (home / "tiny-widget" / "0.0.1").exists()
        line = the_run_s_line(widget, started)
        assert line.startswith(RUN_LINES), f"the run's status line was replaced by {line!r}"
        assert "cancel" in ui.statusLog.toPlainText().lower()
    finally:
        assert stop_the_run(app, widget, started)
