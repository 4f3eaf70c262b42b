"""A single-time-point run whose time point is removed from the sequence before its result is written.

Segment on the volume of a 4D series segments the time point shown when it was clicked; before
writing, the logic shows that time point again (SDSegLib.time_point.show_time_point). When that
time point was removed from the sequence meanwhile (the Sequences module's item removal) it can
no longer be shown: the result must not be written over the time point the volume shows instead
(another image; with an all-time-points output browsed with "save changes", Slicer would save it
into that other time point's item). Against the fake Slicer's sequences, with the real engine and
the tiny random-weight model.
"""

from __future__ import annotations

import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path
from test_slicer_sequence import _logic, _sequence
from SDSegLogic.errors import InputError


def _remove_time_point(sequence, value: str) -> None:
    """vtkMRMLSequenceNode::RemoveDataNodeAtValue(value), which the fake sequence node lacks (its items, then Modified)."""
    sequence.items = [(existing, node) for existing, node in sequence.items if existing != value]
    sequence.Modified()


def test_a_result_is_not_written_over_another_time_point_when_its_own_was_removed(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake, shapes=((2, 32, 32),) * 3, origins=((5.0, -7.0, 12.0),))  # one grid
    browser.SetSelectedItemNumber(1)  # time point 2/3 (time = 0.5 s) is segmented
    job = logic.startJob(proxy, model=str(model_folder), device="cpu")
    assert job.wait(300)[-1].kind == "done"
    _remove_time_point(volumes, "0.5")
    browser.SetSelectedItemNumber(1)  # the browser now shows time = 1.0 s in the input volume
    with pytest.raises(InputError, match=r"time point 2/3 \(time = 0.5 s\), the time point of 'CT 4D' that was "
                                         r"segmented, was removed from the sequence.*nothing was written"):
        logic.applyResult(job, proxy)
    assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")  # nothing over the 1.0 s image
    assert volumes.GetNumberOfDataNodes() == 2 and browser.GetSelectedItemNumber() == 1


def test_the_time_point_segmented_is_still_shown_again_when_it_exists(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake, shapes=((2, 32, 32),) * 3, origins=((5.0, -7.0, 12.0),))
    browser.SetSelectedItemNumber(1)
    job = logic.startJob(proxy, model=str(model_folder), device="cpu")
    assert job.wait(300)[-1].kind == "done"
    browser.SetSelectedItemNumber(2)  # scrolled on, nothing removed
    segmentation = logic.applyResult(job, proxy)
    assert segmentation is not None and browser.GetSelectedItemNumber() == 1
    assert any("set back from time point 3/3" in line for line in logic.drainLog())
