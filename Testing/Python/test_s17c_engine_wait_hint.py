"""The "waiting for another import" sentence: with its Ctrl-C hint in a terminal, without it in Slicer's panel.

The Slicer panel removed the hint by matching its text; now the panel's library asks the lock for
the sentence without it (:func:`SDSegLogic.model_cache_lock.wait_text`). The other import is the
real model lock held by the test, as in ``test_s17b_slicer_import_wait.py``.
"""

from __future__ import annotations

import contextlib
import threading

from engine_fixtures import make_tiny_model
from SDSegLogic.model_cache_lock import cache_import_lock
from test_slicer_models import _zip_model

OTHER = "process 4242 importing /elsewhere/tiny-widget.zip, started 13:00:00 UTC"
SAFETY_S = 30.0
"""Seconds after which the other import lets go anyway: an import that never returns must not hang the test."""


def _told_while_waiting(home, run):
    """Hold the model's lock as another import would; ``run(on_wait)`` waits for it; returns what on_wait got."""
    other = contextlib.ExitStack()
    other.enter_context(cache_import_lock(home, "tiny-widget", note=OTHER))
    told, failed = [], []

    def on_wait(sentence):
        told.append(sentence)
        threading.Timer(0.1, other.close).start()  # the other import ends once this one is known to wait

    def waiting():
        try:
            run(on_wait)
        except Exception as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    worker = threading.Thread(target=waiting)
    worker.start()
    worker.join(SAFETY_S)
    other.close()
    worker.join()
    assert not failed, failed
    assert len(told) == 1, told
    return told[0]


def test_the_slicer_import_is_told_without_the_ctrl_c_hint(tmp_path):
    """model_library passed the lock's sentence on with "(Ctrl-C to stop waiting)", which stops nothing in Slicer."""
    from SDSegExtension.SDSegLib.model_library import import_model_zip
    from SDSegLogic.registry import Registry

    model = make_tiny_model(tmp_path / "models" / "tiny-widget", model_id="tiny-widget")
    home = tmp_path / "cache"
    home.mkdir()
    archive = _zip_model(model, tmp_path / "tiny-widget.zip")
    sentence = _told_while_waiting(home, lambda on_wait: import_model_zip(archive, Registry(), home, on_wait=on_wait))
    assert "Ctrl-C" not in sentence, sentence
    assert "4242" in sentence and "/elsewhere/tiny-widget.zip" in sentence and "being imported" in sentence, sentence
    assert sentence.endswith("waiting for it to finish."), sentence
    assert (home / "tiny-widget" / "0.0.1").is_dir()


def test_a_terminal_import_is_still_told_how_to_stop_waiting(tmp_path):
    """The CLI's sentence (``sdseg models import``) is unchanged: Ctrl-C does stop the wait there."""
    home = tmp_path / "cache"
    home.mkdir()

    def run(on_wait):
        with cache_import_lock(home, "tiny-widget", on_wait=on_wait):
            pass

    sentence = _told_while_waiting(home, run)
    assert f"{sentence}".endswith("waiting for it to finish (Ctrl-C to stop waiting).") and "4242" in sentence, sentence
