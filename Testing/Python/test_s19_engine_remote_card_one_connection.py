"""A remote run with a slice range reads the engine's model card on its own connection: one connection, not two.

A remote engine's model card decides the axis a slice range counts along (``SDSeg.remote_card``).
A run asked for it on a connection of its own (hello, ``info``, close) in its worker thread, and
then opened the run's connection, where it asked for ``info`` again: every remote run with a range
paid a second connection, token check and round trip, and the two answers could even come from two
different engines behind one address. The run now takes the card from the ``info`` reply of its own
connection.

The remote engine is :class:`engine_fixtures.FakeEngine`, a real listening socket that counts the
connections and answers ``info`` with a card cut in coronal slices (``LSP``: a range counts along
j) and the ``segment`` with an ``error`` after reading it, so the test sees the slices sent.
``Testing/Slicer/fake_slicer.py`` stands in for MRML.
"""

from __future__ import annotations

import threading

import numpy as np

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture
from engine_fixtures import FakeEngine, _recv_all

TOKEN = "t" * 64
SHAPE = (7, 5, 16)  # (K, J, I): 7 axial slices, 5 coronal ones


class _CardEngine:
    """The answers of a remote engine whose card says ``LSP``; records each connection's hello and the segment header."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hellos = []
        self.segments = []

    def __call__(self, index, header, sock):
        kind = header.get("type")
        if kind == "hello":
            with self.lock:
                self.hellos.append(index)
            return None  # welcome
        if kind == "info":
            return {"type": "info", "device": "cpu", "busy": False, "model_card": {"model_id": "remote", "orientation": "LSP"}}
        if kind == "segment":
            _recv_all(sock, header["_body"])  # the volume, read whole so the stream stays in step
            with self.lock:
                self.segments.append(header)
            return {"type": "error", "job_id": header.get("job_id"), "code": "engine_error",
                    "message": "this test engine segments nothing"}
        return None


def test_a_remote_range_run_asks_for_the_card_on_its_own_connection(monkeypatch, manager):
    import fake_slicer

    answers = _CardEngine()
    engine = FakeEngine(answers)
    try:
        fake = fake_slicer.install(monkeypatch)
        volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))
        from SDSegLib.module_logic import SDSegModuleLogic

        logic = SDSegModuleLogic(engineManager=manager)
        job = logic.startJob(volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}",
                             remoteToken=TOKEN, firstSlice=1, lastSlice=2)
        events = job.wait(60)
    finally:
        engine.close()
    assert events and events[-1].kind == "error" and "segments nothing" in events[-1].text, [(e.kind, e.text) for e in events]
    assert len(answers.segments) == 1 and answers.segments[0]["options"].get("slices") == [1, 3], answers.segments
    assert job.sliceAxis == 1  # j: the card's axis, not k
    assert len(answers.hellos) == 1, f"{len(answers.hellos)} connections for one run (one only to read the card)"
    assert logic.remoteCard(f"sdseg://127.0.0.1:{engine.port}") == {"model_id": "remote", "orientation": "LSP"}
