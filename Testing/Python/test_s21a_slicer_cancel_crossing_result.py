"""A Cancel that crosses the engine's result ends the job as cancelled: nothing is written.

``SegmentationJob.cancel`` promises a ``cancelled`` event and the panel logs "Cancelling ...", but
when the engine finished its last batch just as the cancel was on its way (the engine then sends
the ``result`` and answers the late cancel with ``cancel_ack``), the job ended ``done`` and the
panel wrote the result into the chosen segmentation anyway: the run the user cancelled replaced
their segments. A time point of an all-time-points run in the same case was already dropped
(``SDSegLib.sequence_run``); a single job now ends ``cancelled`` too, its result discarded.

The engine is a scripted :class:`engine_fixtures.FakeEngine` (a real socket and the real client)
that sends the job's result only once the client's ``cancel`` has arrived, as a real engine does
when the cancel crosses the job's last frame; the Slicer logic runs against ``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture
from engine_fixtures import FakeEngine, _recv_all
from SDSegLogic.errors import SDSegError
from SDSegLogic.server.protocol import send_frame

TOKEN = "s21a-crossing-" + "c" * 40
SHAPE = (4, 6, 5)  # (K, J, I)
CARD = {"model_id": "fake-remote", "version": "1.0", "orientation": "LPS",
        "classes": [{"name": "organ", "label_value": 1, "color": [1.0, 0.0, 0.0]}]}


@pytest.fixture
def crossing_engine():
    """Accepts a job and sends its full result when the client's ``cancel`` comes (then the late ``cancel_ack``)."""
    segment, accepted = {}, threading.Event()

    def answer(index, header, sock):
        kind = header.get("type")
        if kind == "info":
            return {"type": "info", "device": "cpu", "devices": {"cpu_threads": 1}, "model_card": CARD}
        if kind == "segment":
            _recv_all(sock, header["_body"])
            segment.update(header)
            send_frame(sock, {"type": "accepted", "job_id": header["job_id"]})
            accepted.set()
            return "silent"
        if kind == "cancel":
            labels = np.ones(SHAPE, np.uint8)
            send_frame(sock, {"type": "result", "job_id": segment["job_id"], "geometry": copy.deepcopy(segment["geometry"]),
                              "model_id": "fake-remote", "model_version": "1.0", "options": dict(segment["options"]),
                              "warnings": [], "seconds": 0.1}, {"labels": labels})
            return {"type": "cancel_ack", "job_id": header.get("job_id")}
        return None

    engine = FakeEngine(answer)
    engine.accepted = accepted
    yield engine
    engine.close()


def test_s21a_cancel_crossing_the_result_ends_cancelled_and_writes_nothing(monkeypatch, manager, crossing_engine):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    job = logic.startJob(volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{crossing_engine.port}",
                         remoteToken=TOKEN)
    assert crossing_engine.accepted.wait(30)
    job.cancel()  # the user's Cancel; the engine's result is already on its way
    events = job.wait(30)
    assert events[-1].kind == "cancelled", [(event.kind, event.text) for event in events]  # before: "done"
    assert "nothing was written" in events[-1].text and job.output is None
    with pytest.raises(SDSegError, match="no result to write"):
        logic.applyResult(job, volume)
    assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
