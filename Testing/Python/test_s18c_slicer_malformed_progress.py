"""A remote engine's malformed ``progress`` frames neither break the progress display nor lose the run's end.

The client hands ``progress`` frames over unchecked (``SDSegLogic.server.client``), and the panel
did ``int(data["done"])`` / ``format_seconds(data["eta_s"])`` on them (``panel_state.
show_job_event``; ``sequence_run`` too): a ``done`` of ``"abc"`` raised ValueError in the timer's
slot, and the job's end event drained in the same poll was lost, so the panel stayed "running"
for good. Frames with a text count, a time left of ``1e400`` (read as infinity), a negative count
and ``done`` beyond ``total`` now show as the nearest sensible values, logged once.

The engine is a scripted :class:`engine_fixtures.FakeEngine` (a real socket and the real client)
that writes those headers as raw JSON text (``json.dumps`` cannot write ``1e400``), then ends the
job with an ``error`` frame.
"""

from __future__ import annotations

import json
import logging
import math
import struct

import numpy as np
import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture
from engine_fixtures import FakeEngine, _recv_all

TOKEN = "m" * 64
BAD_PROGRESS = ('"done":"abc","total":10,"eta_s":5', '"done":2,"total":10,"eta_s":1e400', '"done":-3,"total":10',
                '"done":50,"total":10,"eta_s":-7', '"done":1,"total":"x","eta_s":"soon"')


def _raw(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<4sIQ", b"SDSG", len(data), 0) + data


@pytest.fixture
def garbling_engine():
    """Accepts a job, sends :data:`BAD_PROGRESS` (raw), then ends it with an ``error``."""

    def answer(index, header, sock):
        kind = header.get("type")
        if kind == "info":
            return {"type": "info", "device": "cpu", "devices": {"cpu_threads": 1}, "model_card": {}}
        if kind == "segment":
            _recv_all(sock, header["_body"])
            job = json.dumps(header["job_id"])
            frames = [_raw('{"type":"accepted","job_id":%s}' % job)]
            frames += [_raw('{"type":"progress","job_id":%s,%s}' % (job, fields)) for fields in BAD_PROGRESS]
            frames.append(_raw('{"type":"error","job_id":%s,"code":"scripted_end","message":"scripted end"}' % job))
            sock.sendall(b"".join(frames))  # all at once: the end event comes in the same poll as the bad ones
            return "silent"
        return None

    engine = FakeEngine(answer)
    yield engine
    engine.close()


def _run(monkeypatch, manager, engine):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros((3, 8, 8), np.int16)))
    from SDSegLib.module_logic import SDSegModuleLogic

    job = SDSegModuleLogic(engineManager=manager).startJob(
        volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}", remoteToken=TOKEN)
    return job.wait(60)


def test_progress_events_are_sane_and_logged_once(monkeypatch, manager, garbling_engine, caplog):
    with caplog.at_level(logging.WARNING):
        events = _run(monkeypatch, manager, garbling_engine)
    assert events[-1].kind == "error" and "scripted end" in events[-1].text
    progress = [event.data for event in events if event.kind == "progress"]
    assert len(progress) == len(BAD_PROGRESS)
    for data in progress:
        assert type(data["done"]) is int and type(data["total"]) is int and 0 <= data["done"] <= data["total"], data
        eta = data.get("eta_s")
        assert eta is None or (isinstance(eta, float) and math.isfinite(eta) and eta >= 0), data
    assert progress[3]["done"] == progress[3]["total"] == 10  # 50 of 10: clamped to the total
    assert sum("malformed progress" in record.getMessage() for record in caplog.records) == 1


def test_the_panel_shows_them_and_ends_the_run(app, sdseg, garbling_engine):
    from SDSegLib.panel_state import show_job_event

    fake, widget = sdseg
    volume, url = _add_volume(fake, "CT", shape=(3, 8, 8)), f"sdseg://127.0.0.1:{garbling_engine.port}"
    events = widget.logic.startJob(volume, model="remote", device="cpu", remoteUrl=url, remoteToken=TOKEN).wait(60)
    assert [event.kind for event in events][-1] == "error"
    for event in events[:-1]:
        show_job_event(widget.ui, event)  # before: ValueError (int("abc")), OverflowError (inf), TypeError
        assert 0 <= widget.ui.progressBar.value <= 100
    widget.ui.inputVolumeSelector.setCurrentNode(volume)
    widget.ui.remoteUrlLineEdit.text = url
    widget.ui.remoteTokenLineEdit.text = TOKEN
    widget.ui.segmentButton.click()
    assert widget._job is not None, fake.errors
    assert _until(app, lambda: widget._job is None) and _idle_panel(widget)  # before: stuck running
    assert any("scripted end" in error for error in fake.errors), fake.errors


pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _add_volume, _idle_panel, _until, app, engines, sdseg, tiny_model  # noqa: E402,F401
