"""Cancel when the engine never confirms it (SDSegLib.cancel_deadline, SDSegLib.engine_runner).

Without a deadline a run whose engine hangs after Cancel lasts until the client's heartbeat gives
up (30 s of silence, then 10 s for a ping's answer), and the panel's run controls stay locked that
long. Checks, with the real engine client:

* a remote engine that goes silent on ``cancel`` (a scripted :class:`engine_fixtures.FakeEngine`):
  the job ends as cancelled :data:`CANCEL_DEADLINE_S` after Cancel with a note that the engine did
  not confirm, nothing is returned, its connection is closed and the worker thread ends; the panel
  (SDSeg.py) unlocks, logs the note and writes nothing;
* a local engine stopped with SIGSTOP (a stuck driver call): the same, and the hung process is
  stopped so that the next job starts a new engine (POSIX only);
* a local engine that is alive but has not confirmed by the deadline (deadline 0 s) is kept warm.

The panel test runs SDSeg.py against Testing/Slicer/fake_slicer.py because 3D Slicer (MRML,
PythonQt, slicer.util) cannot be installed here; the .ui (PySide6, offscreen) and Qt's timer are real.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path
from engine_fixtures import FakeEngine, _recv_all, wait_until
from SDSegLib.cancel_deadline import CANCEL_DEADLINE_S
from SDSegLib.engine_runner import EngineManager, SegmentationJob
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.protocol import send_frame

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, _idle_panel, _segment, _segmentations, _until, app, engines, sdseg, tiny_model,
)

SLACK_S = 2.0
"""How much later than the deadline the job may end (thread scheduling on a loaded machine)."""
TOKEN = "t" * 64


class HungOnCancel(FakeEngine):
    """A remote engine that accepts a job, reports some progress, then answers nothing (not even pings)."""

    def __init__(self) -> None:
        self.cancels, self.disconnected = [], threading.Event()
        super().__init__(self._answer)

    def _answer(self, index, header, sock):
        kind = header.get("type")
        if kind == "info":
            return {"type": "info", "device": "cpu", "devices": {"cpu_threads": 1}, "model_card": {}}
        if kind == "segment":
            _recv_all(sock, header["_body"])  # the volume
            send_frame(sock, {"type": "accepted", "job_id": header["job_id"]})
            return {"type": "progress", "job_id": header["job_id"], "done": 1, "total": 100, "eta_s": 60.0}
        if kind == "cancel":
            self.cancels.append(time.monotonic())
        return None  # cancel, ping: silence, as a hung engine

    def _serve(self, sock, index) -> None:
        super()._serve(sock, index)  # returns when the client closes the connection
        self.disconnected.set()

    @property
    def url(self) -> str:
        return f"sdseg://127.0.0.1:{self.port}"


def _volume(k=4):
    array = np.random.default_rng(1).normal(0, 120, (k, 32, 32)).astype(np.int16)
    return array, ImageGeometry((0.9, 0.9, 3.0), (5.0, -7.0, 12.0), np.diag([1.0, 1.0, -1.0]), (32, 32, k))


def _poll_until(job, condition, timeout):
    events, deadline = [], time.monotonic() + timeout
    while not condition(events) and time.monotonic() < deadline:
        events += job.poll()
        time.sleep(0.02)
    return events


def _cancel_and_time(job, timeout):
    """Cancel, then poll like the panel's timer; (events, seconds from Cancel to the job's end)."""
    started = time.monotonic()
    job.cancel()
    events = _poll_until(job, lambda _: job.finished, timeout)
    return events, time.monotonic() - started


def test_remote_engine_silent_after_cancel_ends_the_job_at_the_deadline():
    engine = HungOnCancel()
    try:
        array, geometry = _volume()
        job = SegmentationJob(EngineManager(log=lambda text: None), array, geometry, "remote", remote_url=engine.url,
                              remote_token=TOKEN).start()
        events = _poll_until(job, lambda seen: any(e.kind == "progress" for e in seen), 30)
        assert [e.kind for e in events] == ["info", "progress"]
        events, seconds = _cancel_and_time(job, CANCEL_DEADLINE_S + SLACK_S)
        assert [e.kind for e in events] == ["cancelled"], f"still running {seconds:.1f} s after Cancel"
        assert CANCEL_DEADLINE_S - 0.2 <= seconds <= CANCEL_DEADLINE_S + SLACK_S
        assert events[0].data == {"confirmed": False} and job.output is None and job.error is None
        assert events[0].text.startswith("Cancelled; nothing was written. The engine did not confirm the cancel within 5 s")
        assert len(engine.cancels) == 1  # the cancel was sent; the engine never answered it
        assert engine.disconnected.wait(2.0), "the connection to the silent engine was left open"
        job._thread.join(5.0)
        assert not job._thread.is_alive() and job.poll() == []  # the worker ended; its late outcome is not reported
    finally:
        engine.close()


def test_panel_unlocks_a_few_seconds_after_cancel_when_the_remote_engine_hangs(app, sdseg):
    fake, widget = sdseg
    engine = HungOnCancel()
    try:
        widget.ui.remoteUrlLineEdit.text = engine.url
        widget.ui.remoteTokenLineEdit.text = TOKEN
        job = _segment(widget, _add_volume(fake, "CT"))
        assert _until(app, lambda: widget.ui.etaLabel.text.startswith("Slice 1/100"), timeout=30)
        started = time.monotonic()
        widget.ui.segmentButton.click()  # Cancel
        assert _until(app, lambda: _idle_panel(widget), timeout=CANCEL_DEADLINE_S + SLACK_S), "the panel stayed locked"
        assert time.monotonic() - started <= CANCEL_DEADLINE_S + SLACK_S + 0.5 and job.finished
        assert "did not confirm the cancel within 5 s" in widget.ui.statusLog.toPlainText()
        assert widget.ui.etaLabel.text.startswith("Cancelled; nothing was written.")
        assert not _segmentations(fake) and not fake.errors and widget.ui.progressBar.value == 0
        assert all(getattr(widget.ui, name).enabled for name in ("inputVolumeSelector", "modelComboBox", "remoteUrlLineEdit"))
    finally:
        widget.ui.remoteUrlLineEdit.text = ""
        engine.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX only")
def test_local_engine_hung_on_cancel_ends_the_job_and_is_replaced(model_folder):
    logs = []
    local = EngineManager(log=logs.append, extra_args=("--threads", "1"))  # the default 30 s heartbeat
    try:
        array, geometry = _volume(k=300)
        job = SegmentationJob(local, array, geometry, str(model_folder), "cpu", batch_size=1).start()
        _poll_until(job, lambda seen: any(e.kind == "progress" for e in seen), 60)
        hung = local.process
        os.kill(hung.pid, signal.SIGSTOP)  # a stuck driver call: alive, answers nothing
        events, seconds = _cancel_and_time(job, CANCEL_DEADLINE_S + SLACK_S)
        assert events and events[-1].kind == "cancelled", f"still running {seconds:.1f} s after Cancel"
        assert events[-1].data["confirmed"] is False and job.output is None
        # a ping went unanswered: the manager stops the engine, then forgets it once stop() has returned
        wait_until(lambda: hung.poll() is not None and local.process is None, 20, "the hung engine stopped and was let go")
        assert any("running but not answering; stopping it" in line for line in logs)
        small, small_geometry = _volume(k=1)
        job = SegmentationJob(local, small, small_geometry, str(model_folder), "cpu").start()
        assert job.wait(120)[-1].kind == "done" and local.process.pid != hung.pid  # the next job: a new engine
    finally:
        local.stop()


def test_local_engine_alive_but_late_to_confirm_is_kept_warm(manager, model_folder):
    array, geometry = _volume(k=300)
    job = SegmentationJob(manager, array, geometry, str(model_folder), "cpu", batch_size=1).start()
    _poll_until(job, lambda seen: any(e.kind == "progress" for e in seen), 60)
    warm = manager.process
    job.cancel_deadline_s = 0.0  # no engine confirms that fast: the deadline ends the job
    events, _seconds = _cancel_and_time(job, SLACK_S)
    assert events[-1].kind == "cancelled" and events[-1].data["confirmed"] is False
    for thread in [t for t in threading.enumerate() if t.name == "sdseg-cancel-deadline"]:
        thread.join(10.0)  # the deadline's ping on a new connection was answered: the engine stays
    assert manager.process is warm and warm.alive()
    assert not any("not answering" in line for line in manager.logs)

    def idle():
        client = warm.client()
        try:
            return not client.info().get("busy")
        finally:
            client.close()

    wait_until(idle, 20, "the engine dropped the job of the closed connection")
    small, small_geometry = _volume(k=1)
    assert SegmentationJob(manager, small, small_geometry, str(model_folder), "cpu").start().wait(120)[-1].kind == "done"
    assert manager.process is warm
