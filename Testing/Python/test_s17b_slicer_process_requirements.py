"""A script's ``process()`` in a Slicer without the engine's Python packages: the panel's message, not a dead engine.

The panel's Segment checks torch and ``Resources/requirements.txt`` first
(``SDSegModuleLogic.setupPythonRequirements``: asks once and installs, or says to install the
PyTorch extension); the scripting API ``process()`` never did, so a script in a Slicer without
torch started an engine that died while importing it, with the engine log as the error. Now
``process()`` runs the same check before any engine starts: in testing mode an ``InstallDeclined``
lists what is missing, with a user the same question as the panel's, and a "no" leaves nothing
started. A remote engine brings its own packages: nothing is checked for it.

The requirement made missing is the logic's own input (its ``requirementsFile``, here listing a
package that cannot be installed); ``Testing/Slicer/fake_slicer.py`` stands in for 3D Slicer
(MRML cannot exist outside it): its ``app.testingEnabled`` and ``util.confirmOkCancelDisplay``.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path

MISSING = "surely-not-installed-package-xyz>=1.0"


def _logic(monkeypatch, tmp_path):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.engine_runner import EngineManager
    from SDSegLib.module_logic import SDSegModuleLogic

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(5).normal(0, 120, (3, 32, 32)).astype(np.int16)))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(MISSING + "\n", encoding="utf-8")
    engines = EngineManager(log=lambda line: None, extra_args=("--threads", "1"))
    logic = SDSegModuleLogic(engineManager=engines)
    logic.requirementsFile = requirements
    return fake, volume, logic, engines


def test_process_in_testing_mode_lists_the_missing_packages_and_starts_nothing(monkeypatch, tmp_path, model_folder):
    from SDSegLib.install import InstallDeclined

    fake, volume, logic, engines = _logic(monkeypatch, tmp_path)
    try:
        with pytest.raises(InstallDeclined) as caught:  # before: the run went ahead (here: an engine started)
            logic.process(volume, model=str(model_folder), device="cpu")
        assert "missing Python packages" in str(caught.value) and MISSING in str(caught.value)
        assert engines.process is None and not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
    finally:
        engines.stop()


def test_process_asks_as_the_panel_does_and_a_no_starts_nothing(monkeypatch, tmp_path, model_folder):
    from SDSegLib.install import InstallDeclined

    fake, volume, logic, engines = _logic(monkeypatch, tmp_path)
    fake.app.testingEnabled = lambda: False  # a user's Slicer
    asked = []
    fake.util.confirmOkCancelDisplay = lambda message, *args, **kwargs: asked.append(message) or False
    try:
        with pytest.raises(InstallDeclined, match="installation declined"):
            logic.process(volume, model=str(model_folder), device="cpu")
        assert len(asked) == 1 and MISSING in asked[0] and "Install now?" in asked[0]
        assert engines.process is None and not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
    finally:
        engines.stop()
