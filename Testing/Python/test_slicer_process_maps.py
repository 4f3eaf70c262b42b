"""``SDSegModuleLogic.process`` from the Python console refuses an uncertainty volume it would not fill.

Before, ``process(volume, uncertaintyVolume=node)`` with the default single sample ran, returned
the segmentation and left ``node`` empty without a word (one sample has no variance): a script
believed it had its uncertainty map. Now it is refused before the run, saying what to change.
Against ``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer) with the real
engine and the tiny two-class model.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path
from SDSegLogic.errors import InputError


def test_process_refuses_an_uncertainty_volume_for_a_single_sample(monkeypatch, manager, model_folder):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic(engineManager=manager)
    ct = np.random.default_rng(6).normal(0, 120, (3, 12, 16)).astype(np.int16)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", ct, np.diag([-0.9, -0.9, 3.0, 1.0])))
    uncertainty = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("U"))
    with pytest.raises(InputError, match=r"uncertainty volume 'U' needs samples of 2 or more.*samples is 1.*Raise samples"):
        logic.process(volume, model=str(model_folder), device="cpu", uncertaintyVolume=uncertainty)
    assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")  # refused before the run: nothing written
    logic.process(volume, model=str(model_folder), device="cpu", samples=2, uncertaintyVolume=uncertainty)
    assert uncertainty.GetImageData() is not None  # with 2 samples: filled, as before
