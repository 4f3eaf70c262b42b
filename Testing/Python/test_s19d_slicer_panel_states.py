"""A clinician's view of the panel: what is enabled in each state, why not, keyboard order, the progress bar.

* A control a run locks (``RUN_CONTROLS``) said nothing about the lock: its tooltip kept describing
  the option, so a user hovering a greyed-out selector during a run was not told why. Now each
  locked control's tooltip ends with a line saying it is locked while a segmentation runs, and
  the line is gone once the run ends.
* With "All time points" ticked, the probability-map selector was disabled with its ordinary
  tooltip ("Optional: foreground probability ..."), unlike the uncertainty selector next to it:
  now it says the map is not written when all time points are segmented.
* The keyboard (Tab) order follows the panel top to bottom (checked on the .ui with QUiLoader).
* The progress bar never goes backwards across time points and reaches 100 only once the result
  is written: the engine's last progress frame (every slice of the last time point done) set 100
  while the result was still being received and written.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here), the real engine process and the tiny model.
"""

from __future__ import annotations

import pytest

QtWidgets = pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    UI_FILE, _add_volume, _idle_panel, _segment, _segmentations, _until, app, engines, load_ui, sdseg, tiny_model,
)

from test_slicer_sequence import _sequence  # noqa: E402

LOCK_WORDS = "while a segmentation runs"


def test_controls_locked_during_a_run_say_why_and_stop_saying_it_after(app, sdseg):
    from SDSegLib.panel_state import RUN_CONTROLS

    fake, widget = sdseg
    ui = widget.ui
    ui.samplesSpinBox.value = 2  # the uncertainty selector is usable before the run
    widget._parameterNode.batchSize = 1  # a progress frame per slice, the last with every slice done
    seen = []
    ui.progressBar.qobject.valueChanged.connect(lambda value: seen.append((value, widget._job is not None)))
    job = _segment(widget, _add_volume(fake, "CT"))
    silent = [name for name in RUN_CONTROLS if getattr(ui, name).enabled or LOCK_WORDS not in getattr(ui, name).toolTip]
    assert not silent, f"locked during the run without saying why: {silent}"
    assert ui.segmentButton.enabled and ui.segmentButton.text == "Cancel" and ui.segmentButton.toolTip
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    stale = [name for name in RUN_CONTROLS if LOCK_WORDS in getattr(ui, name).toolTip]
    assert not stale, f"still say they are locked after the run: {stale}"
    assert all(getattr(ui, name).enabled for name in ("inputVolumeSelector", "modelComboBox", "uncertaintyVolumeSelector",
                                                      "importModelZipButton", "useModelFolderButton", "batchSizeSpinBox"))
    assert ui.progressBar.value == 100 and len(_segmentations(fake)) == 1
    during = [value for value, running in seen if running and value >= 0]
    assert during == sorted(during) and max(during) < 100, seen  # full only once the result is written


def test_probability_selector_disabled_for_all_time_points_says_why(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    proxy, _browser, _volumes = _sequence(fake)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.allTimePointsCheckBox.qobject.click()
    assert widget._parameterNode.allTimePoints and not ui.probabilityVolumeSelector.enabled
    assert "time points" in ui.probabilityVolumeSelector.toolTip, ui.probabilityVolumeSelector.toolTip
    ui.allTimePointsCheckBox.qobject.click()  # one time point again: usable, and described as an option
    assert ui.probabilityVolumeSelector.enabled
    assert "time points" not in ui.probabilityVolumeSelector.toolTip and ui.probabilityVolumeSelector.toolTip


def test_idle_without_volume_segment_says_to_select_one(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    ui.inputVolumeSelector.setCurrentNode(None)
    assert not ui.segmentButton.enabled and "input volume" in ui.segmentButton.toolTip
    assert all(getattr(ui, n).enabled for n in ("inputVolumeSelector", "modelComboBox", "importModelZipButton",
                                                "useModelFolderButton", "outputSegmentationSelector"))
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    assert ui.segmentButton.enabled


def test_tab_order_follows_the_panel_top_to_bottom(app):
    panel = load_ui(UI_FILE)
    panel.show()
    app.processEvents()
    wanted = ["inputVolumeSelector", "modelComboBox", "importModelZipButton", "useModelFolderButton", "deviceComboBox",
              "stepsSpinBox", "samplesSpinBox", "seedSpinBox", "roiSelector", "firstSliceSpinBox", "lastSliceSpinBox",
              "outputSegmentationSelector", "probabilityVolumeSelector", "uncertaintyVolumeSelector", "segmentButton",
              "batchSizeSpinBox", "strictCheckBox", "gpuKernelsComboBox", "remoteUrlLineEdit", "remoteTokenLineEdit"]
    chain, widget = [], panel.nextInFocusChain()
    while widget is not panel and len(chain) < 1000:
        chain.append(widget.objectName())
        widget = widget.nextInFocusChain()
    positions = [chain.index(name) for name in wanted]
    assert positions == sorted(positions), [name for _, name in sorted(zip(positions, wanted))]
    panel.close()


def test_progress_over_all_time_points_never_goes_back_and_is_full_only_when_written(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    proxy, browser, _volumes = _sequence(fake)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.allTimePointsCheckBox.qobject.click()
    widget._parameterNode.batchSize = 1  # several progress frames per time point
    seen = []
    ui.progressBar.qobject.valueChanged.connect(lambda value: seen.append((value, widget._job is not None)))
    ui.segmentButton.click()
    job = widget._job
    assert job is not None and _until(app, lambda: job.finished) and _idle_panel(widget)
    during = [value for value, running in seen if running and value >= 0]
    assert during and during == sorted(during), seen  # never backwards
    assert max(during) < 100, seen  # full only once the result is written
    assert ui.progressBar.value == 100 and browser.GetSequenceNode(_segmentations(fake)[0]) is not None


def test_cancel_says_cancelled_and_writes_nothing(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    widget._parameterNode.batchSize = 1
    job = _segment(widget, _add_volume(fake, "CT", shape=(200, 32, 32)))
    assert _until(app, lambda: ui.progressBar.maximum == 100 and ui.progressBar.value > 0)
    ui.segmentButton.click()  # a second click long after the first: Cancel
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert "cancel" in ui.etaLabel.text.lower(), ui.etaLabel.text
    assert ui.progressBar.value < 100 and not _segmentations(fake)
    assert ui.segmentButton.enabled and ui.segmentButton.text == "Segment"
