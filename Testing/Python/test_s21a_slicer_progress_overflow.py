"""A remote engine's ``progress`` frame whose time left is an integer beyond float range does not end the run.

``ProgressGuard`` (``SDSegLib.progress_guard``) cleans each ``progress`` frame in the job's worker
thread; for ``eta_s`` it called ``math.isfinite`` on the value, which raises OverflowError for an
integer such as ``10**400`` (valid JSON, read by ``json`` as a Python int). The error escaped the
client's progress callback, so the job ended with ``client_error: OverflowError: int too large to
convert to float`` instead of going on: a segmentation lost to a garbled time estimate. Such a time
left is now unknown (shown as ``?``), as ``1e400`` (read as infinity) already was.

The engine is a scripted :class:`engine_fixtures.FakeEngine` (a real socket and the real client)
that writes the header as raw JSON text, then ends the job with an ``error`` frame.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture
from engine_fixtures import FakeEngine, _recv_all

TOKEN = "o" * 64
HUGE = "1" + "0" * 400  # an integer JSON reads exactly, beyond float range
PROGRESS = ('"done":2,"total":10,"eta_s":%s' % HUGE, '"done":3,"total":10,"eta_s":-%s' % HUGE, '"done":4,"total":10,"eta_s":7')


def _raw(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<4sIQ", b"SDSG", len(data), 0) + data


@pytest.fixture
def huge_eta_engine():
    """Accepts a job, sends :data:`PROGRESS` (raw), then ends it with an ``error``."""

    def answer(index, header, sock):
        kind = header.get("type")
        if kind == "info":
            return {"type": "info", "device": "cpu", "devices": {"cpu_threads": 1}, "model_card": {}}
        if kind == "segment":
            _recv_all(sock, header["_body"])
            job = json.dumps(header["job_id"])
            frames = [_raw('{"type":"accepted","job_id":%s}' % job)]
            frames += [_raw('{"type":"progress","job_id":%s,%s}' % (job, fields)) for fields in PROGRESS]
            frames.append(_raw('{"type":"error","job_id":%s,"code":"scripted_end","message":"scripted end"}' % job))
            sock.sendall(b"".join(frames))
            return "silent"
        return None

    engine = FakeEngine(answer)
    yield engine
    engine.close()


def test_s21a_time_left_beyond_float_range_is_unknown_not_a_failed_run(monkeypatch, manager, huge_eta_engine):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros((3, 8, 8), np.int16)))
    from SDSegLib.module_logic import SDSegModuleLogic

    events = SDSegModuleLogic(engineManager=manager).startJob(
        volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{huge_eta_engine.port}", remoteToken=TOKEN).wait(60)
    assert events[-1].kind == "error" and "scripted end" in events[-1].text, events[-1].text  # before: OverflowError
    progress = [event.data for event in events if event.kind == "progress"]
    assert [(data["done"], data["eta_s"]) for data in progress] == [(2, None), (3, None), (4, 7.0)]
