"""A remote engine's malformed ``result`` frame is refused as a protocol error, never written misaligned.

A remote engine is user-configured (another SDSeg version, or another program). The client built a
:class:`SegmentOutput` from whatever the result frame held, and ``SDSegModuleLogic.applyResult``
used it as it came: ``options`` that is no object raised AttributeError, ``slices`` of one number
IndexError; ``slices`` other than the ones asked for overwrote slices of a chosen segmentation the
run never segmented; a ``geometry`` other than the input's put the probability map on another grid
(shifted in space); labels sent as int16 wrapped 257 to 1; probabilities of another shape raised
inside the writer or were written on the wrong grid. The client now checks the frame against the
request (:mod:`SDSegLogic.server.client_result`) and raises ``EngineError("protocol_error")``
naming the field, its value and the remedy; nothing is written.

The engine is a scripted :class:`engine_fixtures.FakeEngine` (a real TCP socket and the real
client) that echoes the request's geometry and options unless a test changes them; the Slicer
logic runs against ``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture
from engine_fixtures import FakeEngine, _recv_all
from SDSegLogic.server.protocol import send_frame

TOKEN = "s20m-result-frame-" + "q" * 40
SHAPE = (4, 6, 5)  # (K, J, I)
CARD = {"model_id": "fake-remote", "version": "1.0", "orientation": "LPS",
        "classes": [{"name": "organ", "label_value": 1, "color": [1.0, 0.0, 0.0]}]}


def _engine(change, card=None):
    """A fake engine whose ``result`` echoes the request, then ``change(header, arrays)`` alters it; ``card``: its model card."""

    def answer(index, header, sock):
        kind = header.get("type")
        if kind == "info":
            return {"type": "info", "device": "cpu", "devices": {"cpu_threads": 1},
                    "model_card": CARD if card is None else card}
        if kind == "segment":
            _recv_all(sock, header["_body"])
            send_frame(sock, {"type": "accepted", "job_id": header["job_id"]})
            labels = np.zeros(SHAPE, np.uint8)
            labels[:, 1:3, 1:3] = 1
            options = header["options"]
            arrays = {"labels": labels}
            if options.get("want_probabilities"):
                arrays["probabilities"] = labels.astype(np.float32) * 0.75
            result = {"type": "result", "job_id": header["job_id"], "geometry": copy.deepcopy(header["geometry"]),
                      "model_id": "fake-remote", "model_version": "1.0", "options": dict(options), "warnings": [],
                      "seconds": 0.1}
            change(result, arrays)
            send_frame(sock, result, arrays)
            return "silent"
        return None

    return FakeEngine(answer)


def _scene(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    return fake, fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))


def _process(monkeypatch, manager, change, card=None, **options):
    """``logic.process`` of a fresh scene's volume on a fake remote engine; returns (fake slicer, volume, node or error)."""
    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    engine = _engine(change, card)
    try:
        logic = SDSegModuleLogic(engineManager=manager)
        try:
            node = logic.process(volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}",
                                 remoteToken=TOKEN, **options)
        except Exception as exc:  # noqa: BLE001 - the test inspects which exception it was
            node = exc
    finally:
        engine.close()
    return fake, volume, node


def _set(path, value):
    """A ``change`` that sets the result header's field ``path`` (``"options.slices"``) to ``value``."""

    def change(header, arrays):
        target = header
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _assert_protocol_error(outcome, *words):
    from SDSegLogic.server.client import EngineError

    assert isinstance(outcome, EngineError), repr(outcome)
    assert outcome.code == "protocol_error", outcome
    for word in (*words, "same SDSeg version"):
        assert word in str(outcome), str(outcome)


def test_a_well_formed_result_is_written(monkeypatch, manager):
    _, _, node = _process(monkeypatch, manager, lambda header, arrays: None)
    assert not isinstance(node, Exception), node
    assert node.GetSegmentation().GetNumberOfSegments() == 1


@pytest.mark.parametrize("options", [[1, 2], "slices", 7])
def test_options_that_are_no_object_are_a_protocol_error(monkeypatch, manager, options):
    _, _, outcome = _process(monkeypatch, manager, _set("options", options))  # before: AttributeError
    _assert_protocol_error(outcome, "options", repr(options))


def test_missing_options_are_the_options_sent(monkeypatch, manager):
    """An engine that echoes no options: the run's own (its slices) still decide what is written."""
    def drop(header, arrays):
        del header["options"]

    _, _, node = _process(monkeypatch, manager, drop, firstSlice=1, lastSlice=2)
    assert not isinstance(node, Exception), node
    assert node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Slices") == "k 1..2"  # before: no tag, every slice


@pytest.mark.parametrize("slices", [[1], ["1", "3"], [1.5, 3], [True, 3], "1..3", [3, 1]])
def test_slices_that_are_not_two_whole_numbers_are_a_protocol_error(monkeypatch, manager, slices):
    _, _, outcome = _process(monkeypatch, manager, _set("options.slices", slices), firstSlice=1, lastSlice=2)
    _assert_protocol_error(outcome, "slices", repr(slices))  # before: IndexError, ValueError, or a truncated 1.5


def test_slices_other_than_the_ones_asked_for_do_not_wipe_a_chosen_segmentation(monkeypatch, manager):
    """A run on slices 1..2 whose result says 0..3: slices 0 and 3 of the chosen segmentation were wiped."""
    import fake_slicer

    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLogic.server.client import EngineError

    def wider(header, arrays):  # as a real engine: 0 outside the slices it ran, which it misreports
        header["options"]["slices"] = [0, SHAPE[0]]
        arrays["labels"] = arrays["labels"].copy()
        arrays["labels"][[0, 3]] = 0

    logic = SDSegModuleLogic(engineManager=manager)
    engine = _engine(lambda header, arrays: None)
    try:
        node = logic.process(volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}",
                             remoteToken=TOKEN)
    finally:
        engine.close()
    before = fake.util.arrayFromSegmentBinaryLabelmap(node, node.GetSegmentation().GetNthSegmentID(0), volume).copy()
    assert before[[0, 3]].any()
    engine = _engine(wider)
    try:
        with pytest.raises(EngineError) as refused:
            logic.process(volume, node, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}",
                          remoteToken=TOKEN, firstSlice=1, lastSlice=2)
    finally:
        engine.close()
    after = fake.util.arrayFromSegmentBinaryLabelmap(node, node.GetSegmentation().GetNthSegmentID(0), volume)
    np.testing.assert_array_equal(after, before)  # before the fix: slices 0 and 3 emptied
    _assert_protocol_error(refused.value, "slices", f"[0, {SHAPE[0]}]", "[1, 3]")


@pytest.mark.parametrize("field,value", [("spacing", [1.0, 1.0, 2.5]), ("origin", [0.0, 0.0, 30.0]),
                                         ("direction", [[1, 0, 0], [0, 0, 1], [0, 1, 0]]), ("shape", [6, 5, 4])])
def test_a_geometry_other_than_the_inputs_is_refused(monkeypatch, manager, field, value):
    _, _, outcome = _process(monkeypatch, manager, _set(f"geometry.{field}", value))
    _assert_protocol_error(outcome, "geometry", field)


def test_a_shifted_geometry_does_not_move_the_probability_map(monkeypatch, manager):
    """Before: the probability map was written on the engine's grid, 30 mm away from the input."""
    import fake_slicer

    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    probability = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("P", np.zeros(SHAPE, np.float32)))
    engine = _engine(_set("geometry.origin", [0.0, 0.0, 30.0]))
    try:
        with pytest.raises(Exception) as refused:
            SDSegModuleLogic(engineManager=manager).process(
                volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}", remoteToken=TOKEN,
                probabilityVolume=probability)
    finally:
        engine.close()
    _assert_protocol_error(refused.value, "geometry", "origin")


@pytest.mark.parametrize("labels", [np.zeros(SHAPE[::-1], np.uint8), np.zeros(SHAPE[:2], np.uint8),
                                    np.full(SHAPE, 257, np.int16), np.full(SHAPE, 0.9, np.float32), np.full(SHAPE, -1, np.int8)])
def test_labels_of_another_shape_or_type_are_refused(monkeypatch, manager, labels):
    """int16 257 became label 1 (a whole volume of organ), float 0.9 became 0 (nothing), -1 became 255."""
    def swap(header, arrays):
        arrays["labels"] = labels

    _, _, outcome = _process(monkeypatch, manager, swap)
    _assert_protocol_error(outcome, "labels")


@pytest.mark.parametrize("probabilities", [np.zeros(SHAPE[::-1], np.float32), np.zeros((2, *SHAPE[::-1]), np.float32),
                                           np.zeros((1, 2, *SHAPE), np.float32), np.zeros(SHAPE, np.uint8)])
def test_probabilities_of_another_shape_or_type_are_refused(monkeypatch, manager, probabilities):
    import fake_slicer

    def swap(header, arrays):
        arrays["probabilities"] = probabilities

    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    node = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("P", np.zeros(SHAPE, np.float32)))
    engine = _engine(swap)
    try:
        with pytest.raises(Exception) as refused:
            SDSegModuleLogic(engineManager=manager).process(
                volume, model="remote", device="cpu", remoteUrl=f"sdseg://127.0.0.1:{engine.port}", remoteToken=TOKEN,
                probabilityVolume=node)
    finally:
        engine.close()
    _assert_protocol_error(refused.value, "probabilities")
