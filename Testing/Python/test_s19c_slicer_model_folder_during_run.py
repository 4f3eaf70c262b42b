"""Use model folder while a Segment run starts: the run keeps its status line and its model stays selected.

The folder check (it reads every weight file) runs while the panel keeps answering, so the
clinician can press Segment meanwhile. When the check ended, the panel selected the checked folder
in the model list during the run (the card and the parameter node then named a model the run does
not use; the locked list could not be set back until the run ended), and a folder refused wrote
"This folder is not a usable SDSeg model." over the run's "Starting the engine ..." line. Now the
folder is added to the list and the log says to choose it after the run; a refusal is said in its
dialog and the log; the run's line stays. (As Import model zip does, see
test_s19b_slicer_import_end_status_line.py.)

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be installed
here), the real engine and real tiny models. Segment is pressed from the first GUI event the panel
processes during the check (a zero-delay timer), as a click queued meanwhile would be.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("PySide6.QtWidgets")
from PySide6.QtCore import QTimer  # noqa: E402
from slicer_test_helpers import (_add_volume, _broken_copy, _idle_panel, _segment, _until, app, engines,  # noqa: E402,F401
                                 sdseg, tiny_model)

LONG = (600, 32, 32)  # one slice a batch: a run still going on when the check has ended
RUN_LINES = ("Starting the engine", "Slice ")


def _use_folder_while_segment_is_pressed(widget, volume, folder):
    started = []
    widget._parameterNode.batchSize = 1
    QTimer.singleShot(0, lambda: started.append(_segment(widget, volume)))
    widget.useModelFolder(str(folder))
    assert started, "Segment was not pressed during the folder check"
    return started[0]


def _stop(app, widget, job):
    if widget._job is not None:
        widget.ui.segmentButton.click()
    assert _until(app, lambda: job.finished) and _idle_panel(widget)


@pytest.mark.parametrize("usable", [True, False], ids=["usable-folder", "refused-folder"])
def test_a_folder_checked_while_a_run_starts_leaves_the_run_alone(app, sdseg, tiny_model, tmp_path, usable):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    model = ui.modelComboBox.currentData
    folder = shutil.copytree(tiny_model, tmp_path / "other-model") if usable else _broken_copy(tiny_model, tmp_path)
    job = _use_folder_while_segment_is_pressed(widget, _add_volume(fake, "CT", shape=LONG), folder)
    try:
        if widget._job is not job:
            pytest.fail("the run ended before the check did; the test needs a longer run")
        line = ui.etaLabel.text
        assert line.startswith(RUN_LINES), f"the run's status line was replaced by {line!r}"
        assert ui.modelComboBox.currentData == model and p.modelId == model, "the run's model is no longer selected"
        assert not ui.useModelFolderButton.enabled and not ui.modelComboBox.enabled  # the run locks them
        said = ui.statusLog.toPlainText()
        if usable:
            assert ui.modelComboBox.findData(str(folder)) >= 0 and "after the run" in said, said
        else:
            assert "not a usable SDSeg model" in said and any("not a usable" in e for e in fake.errors), fake.errors
    finally:
        _stop(app, widget, job)
