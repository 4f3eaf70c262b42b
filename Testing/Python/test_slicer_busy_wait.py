"""A panel job that finds its engine busy with another run waits for it (SDSegLib.busy_wait) instead of failing.

Before, the engine's ``busy`` answer ended the job with an error: a user sharing a remote GPU engine,
or clicking Segment right after a cancel the engine had not finished, had to click again until it
was free. Checked against a real in-process engine serving the tiny random-weight model, whose real
pipeline holds another client's job until the test releases it; the panel's reaction is checked
with ``panel_state.show_job_event`` on a real Qt progress bar (Slicer's ``qt`` cannot be installed
here, so the label is a plain attribute holder). Also here, with the same held job: a job that a ``cancel``
from another connection stopped is reported as cancelled by another client, not as the user's own cancel.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, raw_frame, read_reply, wait_until
from slicer_logic_helpers import model_folder  # noqa: F401 - puts SDSegLib on sys.path
from SDSegLib.engine_runner import EngineManager, JobEvent, SegmentationJob
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient
from SDSegLogic.server.protocol import PROTOCOL_VERSION

TOKEN = "busy-" + "b" * 40
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from SDSegLogic.pipeline import SDSegPipeline

    return SDSegPipeline.from_pretrained(make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-busy"), device="cpu")


@pytest.fixture
def engine(pipeline):
    """An in-process engine whose jobs wait at their first slice until ``engine.release`` is set."""
    from SDSegLogic.segment import segment_array
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    release = threading.Event()

    def held(*args, progress, should_cancel, **kwargs):
        def hold(done: int, total: int) -> None:
            progress(done, total)
            wait_until(lambda: release.is_set() or should_cancel(), 60, "the test releases the other run")

        return segment_array(*args, progress=hold, should_cancel=should_cancel, **kwargs)

    server = EngineServer(pipeline, EngineOptions(token=TOKEN), segment_fn=held)
    port = server.bind()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.release, server.url = release, f"sdseg://127.0.0.1:{port}"
    server.port = port
    yield server
    release.set()
    server.shutdown()


def _volume(k: int = 2):
    return np.zeros((k, 32, 32), np.int16), ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (32, 32, k))


def _other_run(engine):
    """Another client's job, held by the engine; returns its thread (the engine is then busy)."""
    client = EngineClient("127.0.0.1", engine.port, TOKEN).connect()
    first_slice, results = threading.Event(), {}

    def run() -> None:
        image, geometry = _volume()
        try:
            results["output"] = client.segment(image, geometry, batch_size=1, on_progress=lambda event: first_slice.set())
        except BaseException as exc:  # noqa: BLE001 - checked by the test
            results["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert first_slice.wait(60), results
    return thread, results


def _events_until(job, condition, timeout: float) -> list:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += job.poll()
        if condition(seen):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {[(e.kind, e.text) for e in seen]}")


def test_a_job_waits_while_another_run_holds_the_engine_then_segments(engine):
    other, other_results = _other_run(engine)
    image, geometry = _volume(3)
    job = SegmentationJob(EngineManager(log=lambda text: None), image, geometry, "remote", remote_url=engine.url,
                          remote_token=TOKEN, batch_size=1).start()
    seen = _events_until(job, lambda events: sum(e.kind == "waiting" for e in events) >= 2, 20)
    assert not any(e.kind in ("done", "error", "cancelled") for e in seen)  # before: an immediate busy error
    waiting = [e for e in seen if e.kind == "waiting"]
    assert waiting[0].text.startswith("The engine is busy with another run; waiting for it (")
    assert "Cancel stops waiting." in waiting[0].text and waiting[-1].data["seconds"] >= waiting[0].data["seconds"]
    engine.release.set()
    seen += _events_until(job, lambda events: any(e.kind in ("done", "error", "cancelled") for e in events), 60)
    assert seen[-1].kind == "done", [(e.kind, e.text) for e in seen]
    assert job.output.labels.shape == image.shape
    other.join(30)
    assert "output" in other_results, other_results  # the other run was not disturbed


def test_cancel_while_waiting_ends_the_job_at_once_and_sends_nothing(engine):
    other, _ = _other_run(engine)
    image, geometry = _volume()
    job = SegmentationJob(EngineManager(log=lambda text: None), image, geometry, "remote", remote_url=engine.url,
                          remote_token=TOKEN, batch_size=1).start()
    _events_until(job, lambda events: any(e.kind == "waiting" for e in events), 20)
    asked = time.monotonic()
    job.cancel()
    seen = _events_until(job, lambda events: any(e.kind in ("done", "error", "cancelled") for e in events), 10)
    assert seen[-1].kind == "cancelled" and seen[-1].data.get("confirmed") is True, [(e.kind, e.text) for e in seen]
    assert time.monotonic() - asked < 3.0  # the wait polls the cancel every 0.1 s
    engine.release.set()
    other.join(30)
    with EngineClient("127.0.0.1", engine.port, TOKEN) as client:
        wait_until(lambda: not client.ping()["busy"], 10, "the engine is idle: the cancelled job never reached it")


def test_the_panel_shows_a_moving_bar_and_the_wait_while_the_engine_is_busy(monkeypatch):
    QtWidgets = pytest.importorskip("PySide6.QtWidgets")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Testing" / "Slicer"))
    import fake_slicer  # 3D Slicer's slicer.i18n, which panel_state imports, cannot exist outside Slicer

    fake_slicer.install(monkeypatch)
    from SDSegLib.engine_runner import waiting_text
    from SDSegLib.panel_state import show_job_event

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    ui = SimpleNamespace(progressBar=QtWidgets.QProgressBar(), etaLabel=SimpleNamespace(text=""),
                         deviceInfoLabel=SimpleNamespace(text=""))
    ui.progressBar.setRange(0, 100)
    ui.progressBar.setValue(40)
    assert show_job_event(ui, JobEvent("waiting", text=waiting_text(12.4), data={"seconds": 12.4})) is None
    assert (ui.progressBar.minimum(), ui.progressBar.maximum()) == (0, 0)  # Qt's busy indicator
    assert ui.etaLabel.text == "The engine is busy with another run; waiting for it (12 s). Cancel stops waiting."
    show_job_event(ui, JobEvent("progress", data={"done": 1, "total": 4, "eta_s": 3.0}))
    assert (ui.progressBar.maximum(), ui.progressBar.value()) == (100, 25)  # the job started: slices again
    assert app is not None


def test_a_busy_answer_to_the_request_itself_starts_the_wait(engine):
    """The engine looked free (``info``) but another run got there first: the request's ``busy`` answer waits too."""
    from SDSegLib.busy_wait import segment_when_free

    other, _ = _other_run(engine)
    waits, image_geometry = [], _volume()
    threading.Timer(1.5, engine.release.set).start()
    with EngineClient("127.0.0.1", engine.port, TOKEN) as client:
        output = segment_when_free(client, *image_geometry, should_cancel=lambda: False, on_wait=waits.append, poll_s=0.2,
                                   busy=False, batch_size=1)
    assert output.labels.shape == image_geometry[0].shape
    assert waits and waits == sorted(waits) and waits[-1] >= 0.5  # refused once, then pinged until the engine was free
    other.join(30)


# ---------------------------------------------------------------------- a cancel from another connection
def _cancel_from_another_connection(engine) -> None:
    """``{"type": "cancel"}`` without a job id, on a connection of its own (as a script on a shared engine may send)."""
    with socket.create_connection(("127.0.0.1", engine.port), timeout=30) as sock:
        sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
        assert read_reply(sock)["type"] == "welcome"
        sock.sendall(raw_frame({"type": "cancel"}))
        assert read_reply(sock, 30) == {"type": "cancel_ack", "job_id": None, "was_running": True}


def test_a_cancel_sent_by_another_client_is_reported_as_such(engine):
    """A ``cancel`` without a job id on another connection (a script, a colleague on a shared engine) stops the
    running job; its client raises CancelledByOtherClientError (still a CancelledError) and the panel says who."""
    from SDSegLib.engine_runner import OTHER_CLIENT_CANCEL_TEXT
    from SDSegLogic.errors import CancelledError
    from SDSegLogic.server.client import CancelledByOtherClientError

    other, results = _other_run(engine)
    _cancel_from_another_connection(engine)
    other.join(30)
    error = results.get("error")
    assert isinstance(error, CancelledByOtherClientError) and isinstance(error, CancelledError), results
    assert "cancelled by another client of the engine" in str(error)

    image, geometry = _volume()
    job = SegmentationJob(EngineManager(log=lambda text: None), image, geometry, "remote", remote_url=engine.url,
                          remote_token=TOKEN, batch_size=1).start()
    _events_until(job, lambda events: any(e.kind == "progress" for e in events), 30)
    _cancel_from_another_connection(engine)
    seen = _events_until(job, lambda events: any(e.kind in ("done", "error", "cancelled") for e in events), 30)
    assert seen[-1].kind == "cancelled" and seen[-1].text == OTHER_CLIENT_CANCEL_TEXT, [(e.kind, e.text) for e in seen]


def test_a_clients_own_cancel_is_not_reported_as_another_clients(engine):
    image, geometry = _volume()
    job = SegmentationJob(EngineManager(log=lambda text: None), image, geometry, "remote", remote_url=engine.url,
                          remote_token=TOKEN, batch_size=1).start()
    _events_until(job, lambda events: any(e.kind == "progress" for e in events), 30)
    job.cancel()
    seen = _events_until(job, lambda events: any(e.kind in ("done", "error", "cancelled") for e in events), 30)
    assert seen[-1].kind == "cancelled" and seen[-1].text == "Cancelled; nothing was written.", [(e.kind, e.text) for e in seen]
