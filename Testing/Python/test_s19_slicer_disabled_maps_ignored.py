"""A map volume the panel shows disabled ("not written") is not written, and does not refuse the run.

The panel disables the probability and uncertainty selectors when all time points of a sequence
are segmented (tooltip "Not written when all time points are segmented."), and the uncertainty
selector with 1 sample ("Needs 2 or more samples"). A map chosen before (the selector kept its
node) was still sent with Segment: with "All time points" the run was refused with an error
dialog, "probability and uncertainty maps are not written when all time points are segmented;
choose no map volume", which the user could not do, the selector being disabled. Now a map the
panel shows disabled is left out of the run (the log says so) and the sequence is segmented.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here) with its fake Sequences module, the real engine process and tiny model.
"""

from __future__ import annotations

import pytest

QtWidgets = pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, _idle_panel, _segmentations, _until, app, engines, sdseg, tiny_model,
)

from test_slicer_sequence import _sequence  # noqa: E402


def test_a_map_chosen_before_all_time_points_was_ticked_does_not_refuse_the_run(app, sdseg):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    proxy, browser, volumes = _sequence(fake)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    probability = _add_volume(fake, "probability map")
    ui.probabilityVolumeSelector.setCurrentNode(probability)  # chosen for a single time point's run
    ui.allTimePointsCheckBox.qobject.click()  # then every time point: the map selector is disabled
    assert p.allTimePoints and p.probabilityVolume is probability and not ui.probabilityVolumeSelector.enabled
    before = probability.GetImageData()
    ui.segmentButton.click()
    job = widget._job
    assert not fake.errors, fake.errors  # no dialog asking to change a selector the panel disabled
    assert job is not None, ui.statusLog.toPlainText()
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors, fake.errors
    (segmentation,) = _segmentations(fake)
    assert browser.GetSequenceNode(segmentation) is not None and ui.progressBar.value == 100
    assert probability.GetImageData() is before  # the disabled map was not written
    log = ui.statusLog.toPlainText()
    assert "Segmented all 3 time points" in log
    assert "probability map" in log and "not written" in log, log  # the user is told the chosen map was left out
