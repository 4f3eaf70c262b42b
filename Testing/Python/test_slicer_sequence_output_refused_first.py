"""All time points into an output segmentation that another sequence browser shows: refused before the run.

A segmentation that already browses the time points of another 4D series (the result of an
earlier all-time-points run of another cine, chosen again as output) cannot take this run's
segmentation sequence. ``SDSegModuleLogic.process`` refused it before any engine work, but the
panel started the run without it: every time point was segmented (minutes for a 4D CT) and only
then was the result refused, "SDSeg could not write the result", nothing added. Now the panel
refuses it when Segment is pressed, as the scripting call does.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here; its Sequences module is ``fake_slicer_sequences.py``), with the real engine
process and a tiny random-weight model.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _idle_panel, _segmentations, _until, app, engines, sdseg, tiny_model,
)
from test_slicer_sequence import _sequence  # noqa: E402


def test_the_panel_refuses_another_browser_s_segmentation_before_segmenting_any_time_point(app, sdseg, tiny_model):
    fake, widget = sdseg
    ui = widget.ui
    cine, _, _ = _sequence(fake, name="cine")
    taken = widget.logic.process(cine, model=str(tiny_model), device="cpu", allTimePoints=True)  # an earlier run
    proxy, browser, volumes = _sequence(fake)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.allTimePointsCheckBox.qobject.click()
    ui.outputSegmentationSelector.setCurrentNode(taken)
    ui.segmentButton.click()
    job = widget._job
    if job is not None:  # before: the run went on through every time point
        assert _until(app, lambda: job.finished)
    assert job is None, f"the run started; its result was refused at the end: {fake.errors}"
    assert len(fake.errors) == 1 and fake.errors[0].startswith("SDSeg could not start.")
    assert "already shows the time points of another sequence" in fake.errors[0] and _idle_panel(widget)
    assert _segmentations(fake) == [taken] and browser.sequences == [volumes]
    ui.outputSegmentationSelector.setCurrentNode(None)  # 'Create new segmentation': the run goes ahead
    ui.segmentButton.click()
    job = widget._job
    assert job is not None and _until(app, lambda: job.finished) and _idle_panel(widget) and len(fake.errors) == 1
    assert len(_segmentations(fake)) == 2 and browser.GetSequenceNode(_segmentations(fake)[1]) is not None
