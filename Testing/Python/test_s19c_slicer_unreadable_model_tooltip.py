"""A selected model whose folder this user cannot read is said to be unreadable, not missing.

On a shared workstation the selected model (e.g. a scene saved by a colleague names their imported
model, mode 700 in the shared models folder) is there but cannot be read. The Segment button's
tooltip said "The model 'private-model' is missing on this computer: [Errno 13] Permission denied
... Add it with 'Import model zip'", and the model card label "private-model: not found": the clinician
was told to import a model that is installed. Now both say it cannot be read, with the error and
the remedy (read access, or import it again).

Tests run as root, which reads past any permission: the model is described in a forked child that
has dropped to the user ``nobody`` (a real permission check by the kernel). The Segment button is
the real panel's (``Testing/Slicer/fake_slicer.py``; 3D Slicer cannot be installed here).
"""

from __future__ import annotations

import pytest

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path
from test_s19b_slicer_unreadable_models_folder import _as_nobody, shared_home  # noqa: F401 - shared_home: fixture

try:
    from slicer_test_helpers import app  # noqa: F401 - pytest fixture (needs PySide6)
except pytest.skip.Exception:
    pass


def _described(specs):
    def work():
        from SDSegLib.module_logic import SDSegModuleLogic

        logic = SDSegModuleLogic()
        out = []
        for spec in specs:
            choice = logic.describeModel(spec)
            out.append([choice.spec, choice.text, choice.source, choice.tooltip, logic.modelSummary(spec)])
        return out

    work()  # imports what the description imports, before the fork
    out = _as_nobody(work)
    assert "error" not in out, out["error"]
    return out["result"]


def test_an_unreadable_selected_model_is_said_to_be_unreadable(request, shared_home):
    pytest.importorskip("PySide6.QtWidgets")
    request.getfixturevalue("app")
    from SDSegLib.model_library import ModelChoice
    from SDSegLib.panel_state import update_segment_button
    from slicer_test_helpers import load_ui

    models, card = shared_home
    folder = models / "private-model" / card["version"]
    described = _described(["private-model", str(folder)])
    import fake_slicer

    fake_slicer.install(request.getfixturevalue("monkeypatch"), load_ui)
    import SDSeg

    widget = SDSeg.SDSegWidget()
    widget.setup()
    try:
        for spec, text, source, tip, summary in described:
            choice = ModelChoice(spec, text, source, tip)
            assert not choice.found and text.endswith("(cannot be read)"), text
            assert "Permission denied" in tip and str(models / "private-model") in tip, tip
            assert "read access" in tip, tip  # the remedy
            assert "cannot be read" in summary and "not found" not in summary, summary  # the model card label
            update_segment_button(widget.ui, False, True, choice)  # as the panel does for the selected model
            button = widget.ui.segmentButton
            assert not button.enabled
            assert "missing on this computer" not in button.toolTip, button.toolTip
            assert "cannot be read: " in button.toolTip and "Permission denied" in button.toolTip, button.toolTip
    finally:
        widget._timer.stop()
        widget.removeObservers()


def test_a_model_folder_that_is_gone_is_still_said_to_be_missing(request, tmp_path):
    """The wording for a folder that is not there stays "missing on this computer"."""
    pytest.importorskip("PySide6.QtWidgets")
    request.getfixturevalue("app")
    import fake_slicer
    from slicer_test_helpers import load_ui

    fake_slicer.install(request.getfixturevalue("monkeypatch"), load_ui)
    import SDSeg
    from SDSegLib.panel_state import update_segment_button

    widget = SDSeg.SDSegWidget()
    widget.setup()
    try:
        choice = widget.logic.describeModel(str(tmp_path / "gone"))
        assert not choice.found and choice.text.endswith("(not found)")
        update_segment_button(widget.ui, False, True, choice)
        assert "missing on this computer" in widget.ui.segmentButton.toolTip
    finally:
        widget._timer.stop()
        widget.removeObservers()
