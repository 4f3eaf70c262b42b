"""Shared fixtures of test_slicer_logic.py and test_slicer_models.py: a tiny two-class model folder and an engine manager.

Also :func:`rerun_over_a_completed_segment`, the scene of the tests on a segment a person reviewed.

Also puts SDSegExtension (SDSegLib) and Testing/Slicer (fake_slicer: MRML cannot exist outside 3D
Slicer) on ``sys.path``. Free of Qt, so the logic tests need no PySide6.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "SDSegExtension"))
sys.path.insert(0, str(REPO / "Testing" / "Slicer"))  # fake_slicer: MRML cannot exist outside 3D Slicer

from engine_fixtures import TINY_CLASSES, make_tiny_model  # noqa: E402
from SDSegLib.engine_runner import EngineManager  # noqa: E402



@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-two", classes=TINY_CLASSES, model_id="tiny-two")


@pytest.fixture(scope="module")
def manager():
    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1"))
    engines.logs = logs
    yield engines
    engines.stop()


def rerun_over_a_completed_segment(fake, volume, manager, model_folder):
    """``process`` ``volume`` (3, 32, 32) with the tiny two-class model, review its liver by hand and mark it
    Completed, then run again (a job done, its result not yet applied).

    ``fake`` is the installed ``fake_slicer``. Returns (the module logic, the segmentation node, the
    reviewed liver mask, the second run's job).
    """
    import numpy as np

    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    node = logic.process(volume, model=str(model_folder), device="cpu", seed=1)
    reviewed = np.zeros((3, 32, 32), np.uint8)
    reviewed[1, 10:20, 10:20] = 1
    fake.util.updateSegmentBinaryLabelmapFromArray(reviewed, node, "sdseg_1_liver", volume)
    statuses = fake.vtkSlicerSegmentationsModuleLogic
    statuses.SetSegmentStatus(node.GetSegmentation().GetSegment("sdseg_1_liver"), statuses.Completed)
    job = logic.startJob(volume, model=str(model_folder), device="cpu", seed=2)
    assert job.wait(120)[-1].kind == "done"
    return logic, node, reviewed, job
