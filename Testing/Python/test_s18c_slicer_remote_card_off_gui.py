"""A remote engine's model card is asked for off the GUI thread; Cancel stays usable meanwhile.

With a remote engine and a slice range (or an ROI), Segment asked the engine for its model card
(``SDSegLib.remote_card``: its orientation decides the axis the range counts along) in the GUI
thread, on a connection of its own: an engine that accepts the connection but never answers froze
Slicer until the 10 s timeout, then failed the run; Cancel could not be pressed meanwhile. Now the
card is asked for in the run's worker thread: Segment returns at once with the run started (the
button is Cancel), and Cancel ends it.

The silent engine is a real listening socket (:class:`engine_fixtures.FakeEngine`) that accepts
the connection and answers nothing; the panel runs SDSeg.py on the real .ui (PySide6 offscreen)
against ``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture
from engine_fixtures import FakeEngine

TOKEN = "t" * 64


@pytest.fixture
def silent_engine():
    """A listening socket that accepts connections, reads the ``hello`` and never answers it."""
    hellos = threading.Event()

    def answer(index, header, sock):
        if header.get("type") == "hello":
            hellos.set()
        return "silent"

    engine = FakeEngine(answer)
    engine.hellos = hellos
    yield engine
    engine.close()


def test_start_job_returns_at_once_and_cancel_ends_the_run(monkeypatch, manager, silent_engine):
    """startJob (the panel's path) hands the card request to the worker; a cancel during it ends the run."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros((7, 5, 16), np.int16)))
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    url = f"sdseg://127.0.0.1:{silent_engine.port}"
    # before: blocked in the calling (GUI) thread, then raised EngineDiedError ("timed out")
    job = logic.startJob(volume, model="remote", device="cpu", remoteUrl=url, remoteToken=TOKEN, firstSlice=1, lastSlice=2)
    assert silent_engine.hellos.wait(30)  # the card request is under way, in the job's worker
    assert not job.finished
    job.cancel()
    events = job.wait(60)
    assert events[-1].kind == "cancelled", [(e.kind, e.text) for e in events]
    assert job.output is None


def test_a_card_without_orientation_still_refuses_the_range(monkeypatch, manager):
    """Asked in the worker, a card naming no orientation still refuses a slice range (process raises InputError)."""
    import fake_slicer
    from SDSegLogic.errors import InputError

    engine = FakeEngine(lambda index, header, sock: {"type": "info", "device": "cpu", "model_card": {}}
                        if header.get("type") == "info" else None)
    try:
        fake = fake_slicer.install(monkeypatch)
        volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros((7, 5, 16), np.int16)))
        from SDSegLib.module_logic import SDSegModuleLogic

        logic = SDSegModuleLogic(engineManager=manager)
        with pytest.raises(InputError, match="orientation"):
            logic.process(volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}",
                          remoteToken=TOKEN, firstSlice=1, lastSlice=2, timeout=60)
    finally:
        engine.close()


def test_the_panel_stays_usable_while_the_card_is_asked_for(app, sdseg, silent_engine):
    """Segment returns with the run started (Cancel shown); Cancel ends it and the panel unlocks."""
    fake, widget = sdseg
    widget.ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT", shape=(7, 5, 16)))
    widget.ui.remoteUrlLineEdit.text = f"sdseg://127.0.0.1:{silent_engine.port}"
    widget.ui.remoteTokenLineEdit.text = TOKEN
    widget._parameterNode.firstSlice, widget._parameterNode.lastSlice = 1, 2  # a slice range: the card is needed
    app.processEvents()
    widget.ui.segmentButton.click()
    assert widget._job is not None, fake.errors  # before: no run, an error dialog after the connection timed out
    assert not fake.errors
    assert silent_engine.hellos.wait(30)
    past = time.monotonic() + app.doubleClickInterval() / 1000.0 + 0.2  # not the second click of a double-click
    _until(app, lambda: time.monotonic() > past)  # the GUI answers meanwhile
    assert widget._job is not None and widget.ui.segmentButton.enabled  # still waiting for the card; Cancel usable
    widget.ui.segmentButton.click()  # Cancel
    assert _until(app, lambda: widget._job is None) and _idle_panel(widget)
    assert not fake.errors, fake.errors


pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _add_volume, _idle_panel, _until, app, engines, sdseg, tiny_model  # noqa: E402,F401
