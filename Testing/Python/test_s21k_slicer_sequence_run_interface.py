"""An all-time-points run (SequenceRun) against the fake Slicer, with the real engine and the tiny model.

Checks: the run declares the attributes of a single-volume SegmentationJob that the widget and the
logic read or set (so neither needs ``getattr`` defaults); a Cancel that crosses the last time
point's result adds nothing; a time point inserted into the sequence during the run stops it
(time points are segmented by position: a result would otherwise be stored at another time
point's index value and the run would end ``done`` with a wrong sequence).
"""

from __future__ import annotations

import numpy as np

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path
from test_slicer_sequence import _logic, _no_leftovers, _sequence

ONE = ((3, 32, 32),)


def _declared(cls) -> set:
    """The attribute names ``cls.__init__`` assigns to ``self`` (public ones)."""
    import inspect
    import re

    return {name for name in re.findall(r"self\.([A-Za-z]\w*)\s*(?::[^=]+)?=", inspect.getsource(cls.__init__))}


def test_sequence_run_declares_the_job_interface_the_widget_uses(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    from SDSegLib.engine_runner import SegmentationJob
    from SDSegLib.sequence_run import SequenceRun

    proxy, browser, volumes = _sequence(fake, shapes=ONE)
    run = logic.startSequenceJob(proxy, model=str(model_folder), device="cpu")
    try:
        wanted = {"volumeNodeID", "sliceAxis", "timePoint", "logic", "outputNodeIDs", "outputNodeNames", "cancelPressed"}
        assert wanted <= _declared(SegmentationJob)  # what the single-volume job declares
        missing = sorted(name for name in wanted if name not in vars(run))
        assert not missing, f"SequenceRun lacks {missing}"
        assert run.cancelPressed is False and run.outputNodeIDs == () and run.outputNodeNames == ()
        assert run.volumeNodeID == proxy.GetID() and run.logic is logic and run.timePoint is None
        assert isinstance(run, SequenceRun)
    finally:
        run.cancel()
        run.wait(300)
    _no_leftovers(fake, volumes, browser)


def test_cancel_crossing_the_last_time_point_s_result_adds_nothing(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake, shapes=((2, 32, 32), (2, 32, 32)))
    run = logic.startSequenceJob(proxy, model=str(model_folder), device="cpu")
    events = []
    while not run.finished and run._number < volumes.GetNumberOfDataNodes() - 1:  # up to the last time point's job
        events += run.poll()
    assert not run.finished and run._job._ended.wait(300)  # its result is there, not yet read by the run
    run.cancel()  # Cancel pressed as the last result arrives
    events += run.wait(300)
    assert events[-1].kind == "cancelled" and run.output is None and run.finished
    assert "nothing was added: the 1 time point(s) already segmented were discarded" in events[-1].text
    _no_leftovers(fake, volumes, browser)


def test_a_time_point_inserted_during_the_run_stops_it_and_adds_nothing(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    import fake_slicer

    proxy, browser, volumes = _sequence(fake, shapes=((2, 32, 32), (2, 32, 32), (2, 32, 32)), origins=((5.0, -7.0, 12.0),))
    run = logic.startSequenceJob(proxy, model=str(model_folder), device="cpu")
    events = []
    while not run.finished and run._number < 1:  # time point 2 (time = 0.5 s) is being segmented
        events += run.poll()
    assert not run.finished
    inserted = np.random.default_rng(5).normal(0, 100, (2, 32, 32)).astype(np.float32)
    matrix = np.diag([-0.9, -0.9, 3.0, 1.0])
    matrix[:3, 3] = (5.0, -7.0, 12.0)
    recorded = fake_slicer.FakeVolumeNode("recorded", inserted, matrix)
    volumes.SetDataNodeAtValue(recorded, "0.25")  # before time point 2: the later positions shift
    events += run.wait(300)
    last = events[-1]
    assert last.kind == "cancelled" and run.output is None, last.text  # not "done" with 0.5 s's result stored at 0.25 s
    assert "changed during the run" in last.text and "time point 2/3 (time = 0.5 s)" in last.text
    assert "4 instead of 3" in last.text and "nothing was added" in last.text
    assert fake.mrmlScene.GetNodesByClass("vtkMRMLSequenceNode") == [volumes]
    assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
