"""A model zip import that ends while a Segment run is going on keeps the run's lock and the run's model.

The panel keeps answering while an import waits for another import of the same model, so a
clinician may press Segment meanwhile. When the import then finished, the panel enabled "Import
model zip" again in the middle of the run (every control that changes a run is locked during one:
``panel_state.RUN_CONTROLS``) and selected the imported model: the model list and the parameter
node (saved with the scene) named a model that did not make the result being computed. Now the
imported model is added to the list, the run's model stays selected, the log says to choose it after
the run, and the lock stays until the run ends.

The other import is a real second process holding the model's lock; SDSegWidget on the real .ui
against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be installed here), the real engine
and the real tiny model.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_import_helpers import (LONG, OtherImport, cache_home_with_zip, import_while_other_holds,  # noqa: E402
                                   segment_once_the_import_waits, stop_the_run)
from slicer_test_helpers import _add_volume, app, engines, sdseg, tiny_model  # noqa: E402,F401



def test_an_import_ending_during_a_run_keeps_the_run_lock_and_the_runs_model(app, sdseg, tiny_model, tmp_path, monkeypatch):
    home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    run_model = ui.modelComboBox.currentData
    other = OtherImport(home, "tiny-widget")
    volume = _add_volume(fake, "CT", shape=LONG)
    started = []

    # a GUI timer: the clinician presses Segment, then the other import ends
    import_while_other_holds(widget, archive, other, segment_once_the_import_waits(widget, volume, started, other.end))
    assert started and (home / "tiny-widget" / "0.0.1").is_dir()
    job = started[0]
    try:
        if widget._job is not job:
            pytest.fail("the run ended before the import did; the test needs a longer run")
        assert not ui.importModelZipButton.enabled, "Import model zip is usable during the run"
        assert ui.modelComboBox.currentData == run_model and p.modelId == run_model  # what makes this result
        assert ui.modelComboBox.findData("tiny-widget") >= 0  # listed, to choose after the run
        log = ui.statusLog.toPlainText()
        assert "Imported tiny-widget 0.0.1" in log and "after the run" in log, log
    finally:
        assert stop_the_run(app, widget, started)
    assert ui.importModelZipButton.enabled and not fake.errors, fake.errors


def test_a_parameter_change_while_an_import_waits_keeps_import_model_zip_locked(app, sdseg, tiny_model, tmp_path, monkeypatch):
    """Any panel update during the import (here: Sampling steps changed) enabled "Import model zip" again mid-import."""
    home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    fake, widget = sdseg
    ui = widget.ui
    other = OtherImport(home, "tiny-widget")
    seen = []

    def change_steps_while_the_import_waits():
        if "being imported" in ui.statusLog.toPlainText() and not seen:
            ui.stepsSpinBox.qobject.setValue(3)  # the clinician edits an option meanwhile
            seen.append(ui.importModelZipButton.enabled)
            other.end()

    import_while_other_holds(widget, archive, other, change_steps_while_the_import_waits)
    assert widget._parameterNode.steps == 3 and seen == [False], seen  # still one import at a time
    assert ui.importModelZipButton.enabled and "Imported tiny-widget 0.0.1" in ui.statusLog.toPlainText()
