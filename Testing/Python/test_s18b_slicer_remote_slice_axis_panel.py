"""The panel names the slice axis of the remote engine's model, not of the local model chosen.

With a remote engine URL set, the panel labelled the slice numbers with the axis of the model
chosen in its list (a local axial model: "Slices (k)"), although the remote engine serves its own
model: a coronal one cuts the same CT across j, so the numbers a user picked counted along another
axis. Now, before the remote engine's card is known, the label names no axis; after a run it names
the remote model's. Real .ui (PySide6 offscreen), a real engine process on a tiny coronal model
(``test_s18b_slicer_remote_slice_axis``) and ``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _add_volume, _idle_panel, _until, app, engines, sdseg, tiny_model  # noqa: E402,F401
from test_s18b_slicer_remote_slice_axis import coronal_engine  # noqa: E402,F401 - a pytest fixture

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_the_slice_label_follows_the_remote_engines_model(app, sdseg, coronal_engine):
    fake, widget = sdseg
    volume = _add_volume(fake, "CT", shape=(7, 5, 16))  # an axial CT: 7 axial slices, 5 coronal ones
    widget.ui.inputVolumeSelector.setCurrentNode(volume)
    assert widget.ui.slicesLabel.text == "Slices (k):"  # the local axial model
    widget.ui.remoteUrlLineEdit.text = f"sdseg://{coronal_engine.host}:{coronal_engine.port}"
    widget.ui.remoteTokenLineEdit.text = coronal_engine.token
    app.processEvents()
    assert widget.ui.slicesLabel.text == "Slices:"  # before: "Slices (k):", the local model's axis
    widget.ui.segmentButton.click()
    assert widget._job is not None
    assert _until(app, lambda: widget._job is None) and _idle_panel(widget)
    assert not fake.errors, fake.errors
    assert widget.ui.slicesLabel.text == "Slices (j):"  # the remote model cuts coronal slices
