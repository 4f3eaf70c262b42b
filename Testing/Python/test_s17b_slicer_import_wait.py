"""Import model zip while another import of the same model runs: the panel says so and keeps answering.

Imports into the model cache lock per model (``SDSegLogic.model_cache_lock``); an import that
finds another one of the same model running waits for it and is told which one (its process,
zip and start time) through ``on_wait``. The panel passed no ``on_wait`` and ran the import in
the GUI thread: Slicer froze, without a word, until the other import (another Slicer, or
``sdseg models import`` in a terminal) had finished. Now the import runs in a worker thread, the
panel keeps processing events, and the status line and log show the sentence naming the other
import (without its "Ctrl-C" hint, which stops nothing in Slicer) while it waits; a question to
replace an installed copy is still asked in the GUI thread.

The other import is the real model lock held by this test (with the note an import writes);
SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here) and the real tiny model, zipped as a user makes one.
"""

from __future__ import annotations

import contextlib
import threading

import pytest

pytest.importorskip("PySide6.QtWidgets")
from PySide6.QtCore import QTimer  # noqa: E402
from slicer_import_helpers import cache_home_with_zip  # noqa: E402
from slicer_test_helpers import app, engines, sdseg, tiny_model  # noqa: E402,F401 - pytest fixtures

from test_s17c_engine_wait_hint import OTHER, SAFETY_S  # noqa: E402 - SAFETY_S: the other import lets go anyway then
from test_slicer_models import _zip_model  # noqa: E402


def test_the_panel_names_the_import_it_waits_for_and_keeps_answering(app, sdseg, tiny_model, tmp_path, monkeypatch):
    from SDSegLogic.model_cache_lock import cache_import_lock

    home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    fake, widget = sdseg
    ui = widget.ui
    other = contextlib.ExitStack()
    other.enter_context(cache_import_lock(home, "tiny-widget", note=OTHER))  # another import of this model runs
    seen = []

    def while_waiting():  # a timer of the GUI: it fires only while the GUI thread processes events
        log = ui.statusLog.toPlainText()
        if "being imported" in log and not seen:
            seen.append((log, ui.etaLabel.text, ui.importModelZipButton.enabled))
            other.close()  # the other import ends

    timer = QTimer()
    timer.timeout.connect(while_waiting)
    timer.start(20)
    safety = threading.Timer(SAFETY_S, other.close)
    safety.start()
    try:
        widget.importModelZip(str(archive))
    finally:
        safety.cancel()
        timer.stop()
        other.close()
    assert seen, "nothing was shown while the import waited (or the GUI did not answer meanwhile)"
    log, status, button_enabled = seen[0]
    assert "4242" in log and "/elsewhere/tiny-widget.zip" in log and "13:00:00" in log, log
    assert "being imported" in status and "4242" in status and "Ctrl-C" not in status + log, status
    assert not button_enabled  # no second import started from the panel meanwhile
    assert (home / "tiny-widget" / "0.0.1").is_dir() and ui.modelComboBox.currentData == "tiny-widget"
    assert ui.importModelZipButton.enabled and "Imported tiny-widget 0.0.1" in ui.statusLog.toPlainText()
    assert not fake.errors, fake.errors

    asked_in = []  # importing it again asks, in the GUI thread, before replacing the installed copy
    fake.util.confirmOkCancelDisplay = lambda question, *a, **k: asked_in.append(threading.current_thread()) or True
    widget.importModelZip(str(archive))
    assert asked_in == [threading.main_thread()] and "Replaced tiny-widget 0.0.1" in ui.statusLog.toPlainText()


def test_a_copy_installed_by_the_import_waited_for_is_asked_about_not_refused_with_force(tmp_path, monkeypatch):
    """The import waited for installed the same id and version: "replace it?", not "pass --force" (a CLI option)."""
    import shutil

    from engine_fixtures import make_tiny_model
    from SDSegLib.model_library import import_model_zip
    from SDSegLogic.model_cache_lock import cache_import_lock
    from SDSegLogic.registry import Registry

    model = make_tiny_model(tmp_path / "models" / "tiny-widget", model_id="tiny-widget")
    home = tmp_path / "cache"
    home.mkdir()
    archive = _zip_model(model, tmp_path / "tiny-widget.zip")
    other = contextlib.ExitStack()
    other.enter_context(cache_import_lock(home, "tiny-widget", note=OTHER))
    asked, outcome = [], {}

    def other_import_finishes(sentence):  # told it waits: the other import installs its copy, then lets go
        shutil.copytree(model, home / "tiny-widget" / "0.0.1")
        threading.Timer(0.2, other.close).start()

    def importing():
        try:
            outcome["value"] = import_model_zip(archive, Registry(), home, confirm_replace=lambda q: asked.append(q) or False,
                                                on_wait=other_import_finishes)
        except Exception as exc:  # noqa: BLE001 - checked below
            outcome["error"] = exc

    worker = threading.Thread(target=importing)
    worker.start()
    worker.join(SAFETY_S)
    other.close()
    worker.join()
    assert "error" not in outcome, outcome.get("error")  # before: CheckpointError "... pass --force to replace it."
    spec, message = outcome["value"]
    assert asked and "already installed" in asked[0] and "installed copy is kept" in message and spec == "tiny-widget"
