"""Opening the module selects the first volume the input selector lists, also when a labelmap was loaded first.

When no input is chosen yet, the panel picks one to save a click. It took the scene's first
``vtkMRMLScalarVolumeNode`` and, when that was a labelmap, picked nothing: a clinician who had loaded
a labelmap before the CT (or opened a scene saved that way) found the input empty although the CT
was there. Now the first volume of a class the input selector lists (exactly scalar or vector
volumes, as ``Resources/UI/SDSeg.ui`` sets) is picked.

Slicer's behaviour that this relies on, checked in its source: ``vtkMRMLScene::GetFirstNodeByClass``
is ``GetNthNodeByClass(0, ...)``, which matches with ``IsA``, and ``vtkMRMLLabelMapVolumeNode``
derives from ``vtkMRMLScalarVolumeNode`` (``Libs/MRML/Core``), so a labelmap loaded first is the
first scalar volume; ``slicer.util.getNodesByClass`` lists them in scene order
(``Base/Python/slicer/util.py``), as the fake does. SDSegWidget on the real .ui against
``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _add_volume, app, engines, sdseg, tiny_model  # noqa: E402,F401 - pytest fixtures


def _labelmap(fake, name="Labels"):
    import fake_slicer_nodes

    return fake.mrmlScene.AddNode(fake_slicer_nodes.FakeLabelMapVolumeNode(name, np.zeros((4, 12, 16), np.uint8)))


def test_entering_the_module_picks_the_ct_after_a_labelmap(sdseg):
    fake, widget = sdseg
    _labelmap(fake)
    ct = _add_volume(fake, "CT")
    widget._parameterNode.inputVolume = None
    widget.exit()
    widget.enter()  # the user opens the module after loading both
    assert widget._parameterNode.inputVolume is ct  # before: None (the labelmap came first)
    assert widget.ui.segmentButton.enabled


def test_a_scene_with_only_a_labelmap_selects_nothing(sdseg):
    fake, widget = sdseg
    _labelmap(fake)
    widget._parameterNode.inputVolume = None
    widget.exit()
    widget.enter()
    assert widget._parameterNode.inputVolume is None and not widget.ui.segmentButton.enabled
