"""A model zip import that waits for another import of the same model can be cancelled from the panel.

An import waits, with no time limit, for another import of the same model that holds the model's
lock in the cache (another Slicer, ``sdseg models import`` in a terminal:
``SDSegLogic.model_cache_lock``). The panel ran that wait in a worker thread and kept answering,
but nothing stopped the wait: a clinician whose other import hung (a stalled network share, a
forgotten terminal) could only quit Slicer, and closing the module did not stop it either (the
import then went on installing behind a closed panel). Now a "Cancel import" button shows during
the import; it, or closing the module, ends the wait at once, with nothing installed and no error
dialog, and the scripting API takes ``cancelled``.

The other import is a real second process holding the model's lock (``cache_import_lock``);
SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here) and the real tiny model, zipped as a user makes one.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_import_helpers import SAFETY_S, OtherImport, cache_home_with_zip, import_while_other_holds  # noqa: E402
from slicer_test_helpers import app, engines, sdseg, tiny_model  # noqa: E402,F401 - pytest fixtures

from test_slicer_models import _zip_model  # noqa: E402

def _panel_import_while_other_holds(widget, archive, home, action):
    """``widget.importModelZip(archive)`` while another process imports the model; ``action(widget)`` once the
    panel says it waits; returns (what the panel showed then, whether the other import still held the lock after)."""
    other = OtherImport(home, "tiny-widget")
    seen = []

    def while_waiting():  # a timer of the GUI: it fires only while the GUI thread processes events
        if "being imported" in widget.ui.statusLog.toPlainText() and not seen:
            button = getattr(widget.ui, "cancelImportButton", None)  # not hidden: the panel itself is never shown here
            shown = button is not None and not button.isHidden()
            seen.append((widget.ui.etaLabel.text, shown, button is not None and button.enabled))
            action(widget)

    still_held = import_while_other_holds(widget, archive, other, while_waiting)  # True: the import was cancelled
    assert seen, "the panel never said that the import waits for another one"
    return seen[0], still_held


def _nothing_installed(home: Path) -> bool:
    folder = home / "tiny-widget"
    return not (folder / "0.0.1").exists() and not list(folder.glob(".import-*"))


def test_cancel_import_stops_the_wait_for_another_import(app, sdseg, tiny_model, tmp_path, monkeypatch):
    home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    fake, widget = sdseg
    ui = widget.ui
    assert ui.cancelImportButton.isHidden() and not ui.cancelImportButton.enabled  # no import: no Cancel import
    (status, visible, enabled), still_held = _panel_import_while_other_holds(
        widget, archive, home, lambda w: w.ui.cancelImportButton.click())
    assert visible and enabled  # shown while the import waits
    assert "4242" in status and "Cancel" in status, status  # the status line says how to stop waiting
    assert still_held, "the import went on until the other import had finished: Cancel did not stop it"
    assert _nothing_installed(home)
    log = ui.statusLog.toPlainText()
    assert "cancelled" in log.lower() and "Imported tiny-widget" not in log, log
    assert "cancelled" in ui.etaLabel.text.lower(), ui.etaLabel.text
    assert not fake.errors, fake.errors  # a cancel is not an error
    assert ui.importModelZipButton.enabled and ui.cancelImportButton.isHidden() and not ui.cancelImportButton.enabled

    widget.importModelZip(str(archive))  # nothing was left locked or half-installed: the next import works
    assert (home / "tiny-widget" / "0.0.1").is_dir() and ui.modelComboBox.currentData == "tiny-widget"
    assert "Imported tiny-widget 0.0.1" in ui.statusLog.toPlainText() and not fake.errors


def test_closing_the_module_stops_the_wait_for_another_import(app, sdseg, tiny_model, tmp_path, monkeypatch):
    from SDSegLib.engine_runner import EngineManager

    home, archive = cache_home_with_zip(tiny_model, tmp_path, monkeypatch)
    fake, widget = sdseg
    widget.logic._manager = EngineManager(log=lambda text: None)  # cleanup() stops this one, not the shared engine
    _shown, still_held = _panel_import_while_other_holds(widget, archive, home, lambda w: w.cleanup())
    assert still_held, "closing the module did not stop the import waiting for another one"
    assert _nothing_installed(home) and not fake.errors, fake.errors


def test_scripting_api_import_is_cancellable_while_it_waits(tmp_path):
    """``import_model_zip(..., cancelled=...)``: the wait ends with CancelledError, nothing installed, the holder untouched."""
    from engine_fixtures import make_tiny_model
    from SDSegLib.model_library import import_model_zip
    from SDSegLogic.errors import CancelledError
    from SDSegLogic.model_cache_lock import model_lock_file
    from SDSegLogic.registry import Registry

    model = make_tiny_model(tmp_path / "models" / "tiny-widget", model_id="tiny-widget")
    home = tmp_path / "cache"
    home.mkdir()
    archive = _zip_model(model, tmp_path / "tiny-widget.zip")
    other = OtherImport(home, "tiny-widget")
    stop, told, outcome = threading.Event(), [], {}

    def importing():
        try:
            outcome["value"] = import_model_zip(archive, Registry(), home, on_wait=lambda s: told.append(s) or stop.set(),
                                                cancelled=stop.is_set)
        except Exception as exc:  # noqa: BLE001 - checked below
            outcome["error"] = exc

    worker = threading.Thread(target=importing)
    try:
        worker.start()
        worker.join(SAFETY_S + 30)
        still_held = other.holds()
    finally:
        other.end()
    worker.join()
    assert told and "4242" in told[0]
    assert isinstance(outcome.get("error"), CancelledError), outcome
    assert "cancelled" in str(outcome["error"]) and "nothing was installed" in str(outcome["error"])
    assert still_held and _nothing_installed(home)
    assert not model_lock_file(home, "tiny-widget").exists()  # the holder removed its lock file: nothing of ours left
    spec, message = import_model_zip(archive, Registry(), home, cancelled=threading.Event().is_set)  # nothing left locked
    assert spec == "tiny-widget" and message.startswith("Imported")


def test_the_wait_for_an_import_holding_the_whole_cache_is_cancellable_too(tmp_path):
    """An older SDSeg (or a cleanup) holding the whole cache exclusively: the other wait of the lock, cancelled alike."""
    from engine_fixtures import make_tiny_model
    from SDSegLib.model_library import import_model_zip
    from SDSegLogic.errors import CancelledError
    from SDSegLogic.registry import Registry

    pytest.importorskip("fcntl")
    model = make_tiny_model(tmp_path / "models" / "tiny-widget", model_id="tiny-widget")
    home = tmp_path / "cache"
    home.mkdir()
    archive = _zip_model(model, tmp_path / "tiny-widget.zip")
    holder = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
              "print('held', flush=True)\nsys.stdin.readline()\n")
    process = subprocess.Popen([sys.executable, "-c", holder, str(home)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    safety = threading.Timer(SAFETY_S, process.stdin.close)
    told, outcome = [], {}
    try:
        assert process.stdout.readline().strip() == "held"
        safety.start()
        try:
            import_model_zip(archive, Registry(), home, on_wait=told.append, cancelled=lambda: bool(told))
        except CancelledError as exc:
            outcome["error"] = exc
        still_held = process.poll() is None
    finally:
        safety.cancel()
        if process.poll() is None:
            process.stdin.close()
        process.wait(60)
        process.stdout.close()
    assert told and "another model import" in told[0], told
    assert "error" in outcome and still_held and _nothing_installed(home)
