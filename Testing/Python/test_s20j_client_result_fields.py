"""A remote engine's ``result`` with an odd ``warnings`` or ``seconds`` neither garbles the warnings nor loses the result.

A remote engine is user-configured: another SDSeg version (or another program) may answer. The
client built the warnings with ``tuple(str(w) for w in header["warnings"])``: one sentence sent as
a string became one warning per character, and a number raised a bare TypeError in place of a
protocol error. :class:`SegmentationJob` formatted ``header["seconds"]`` with ``:.1f``, so a
``seconds`` of ``"fast"`` or ``null`` turned a finished segmentation into a ``client_error``.

The engine is a scripted :class:`engine_fixtures.FakeEngine` (a real TCP socket, the real client)
that answers a ``segment`` with a real labels array and the header fields under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture
from engine_fixtures import FakeEngine, _recv_all
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineError
from SDSegLogic.server.protocol import send_frame

TOKEN = "s20j-result-fields-" + "r" * 40
SHAPE = (3, 8, 8)


def _engine(**fields) -> FakeEngine:
    """A fake engine that answers every ``segment`` with a result of labels 1 and the header ``fields``."""

    def answer(index, header, sock):
        kind = header.get("type")
        if kind == "info":
            return {"type": "info", "device": "cpu", "devices": {"cpu_threads": 1}, "model_card": {}}
        if kind == "segment":
            _recv_all(sock, header["_body"])
            send_frame(sock, {"type": "accepted", "job_id": header["job_id"]})
            send_frame(sock, {"type": "result", "job_id": header["job_id"], "geometry": header["geometry"],
                              "model_id": "fake", "model_version": "9.9", **fields},
                       {"labels": np.ones(SHAPE, np.uint8)})
            return "silent"
        return None

    return FakeEngine(answer)


def _segment(engine: FakeEngine):
    with EngineClient("127.0.0.1", engine.port, TOKEN, timeout=10) as client:
        return client.segment(np.zeros(SHAPE, np.int16), ImageGeometry.identity(SHAPE[::-1]))


def test_a_warning_sent_as_one_string_is_one_warning():
    engine = _engine(warnings="the spacing is uneven", seconds=1.5)
    try:
        output = _segment(engine)
    finally:
        engine.close()
    assert output.warnings == ("the spacing is uneven",), output.warnings
    assert int(output.labels.sum()) == int(np.prod(SHAPE))


def test_a_list_of_warnings_is_kept_as_sent():
    engine = _engine(warnings=["first", "second"], seconds=1.5)
    try:
        output = _segment(engine)
    finally:
        engine.close()
    assert output.warnings == ("first", "second")


@pytest.mark.parametrize("warnings", [7, {"code": "w"}, True], ids=["number", "object", "boolean"])
def test_warnings_that_are_no_text_are_a_protocol_error_naming_them(warnings):
    engine = _engine(warnings=warnings, seconds=1.5)
    try:
        with pytest.raises(EngineError) as caught:
            _segment(engine)
    finally:
        engine.close()
    assert caught.value.code == "protocol_error", repr(caught.value)
    assert "warnings" in str(caught.value) and repr(warnings) in str(caught.value), str(caught.value)


def _job_events(monkeypatch, manager, engine):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))
    from SDSegLib.module_logic import SDSegModuleLogic

    job = SDSegModuleLogic(engineManager=manager).startJob(
        volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}", remoteToken=TOKEN)
    return job, job.wait(60)


@pytest.mark.parametrize("seconds", ["fast", None, [1], 10**400], ids=["text", "null", "list", "integer 10**400"])
def test_a_finished_result_with_odd_seconds_is_not_lost(monkeypatch, manager, seconds):
    engine = _engine(warnings=[], seconds=seconds)
    try:
        job, events = _job_events(monkeypatch, manager, engine)
    finally:
        engine.close()
    assert events[-1].kind == "done", [(event.kind, event.text) for event in events]
    assert job.output is not None and int(job.output.labels.sum()) == int(np.prod(SHAPE))
    assert "Segmented" in events[-1].text


def test_a_numeric_seconds_is_still_reported(monkeypatch, manager):
    engine = _engine(warnings=[], seconds=2.25)
    try:
        job, events = _job_events(monkeypatch, manager, engine)
    finally:
        engine.close()
    text = events[-1].text
    assert events[-1].kind == "done" and ("2.2 s" in text or "2.3 s" in text), text
