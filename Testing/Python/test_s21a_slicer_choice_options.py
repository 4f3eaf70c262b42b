"""A script's ``nanPolicy`` or ``gpuKernels`` the engine does not know is refused by its own name before any engine starts.

``SDSegModuleLogic.process(volume, nanPolicy="Fill")`` started the engine on a cold Slicer
(torch, the model: seconds to minutes) only for it to refuse the job as ``option
nan_policy='Fill' must be "reject" or "fill"``, naming an option the script never passed;
``gpuKernels="AOT"`` ended the job with an SDSegError from the worker thread after the
dependency check. Both are now refused like the number options (:mod:`SDSegLib.run_options`):
an ``InputError`` naming the argument, the value and the choices, and no engine is started.
Against ``Testing/Slicer/fake_slicer.py`` with the real engine process and the tiny two-class model.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path


@pytest.mark.parametrize("argument, value, choice", [("nanPolicy", "Fill", "'fill'"), ("nanPolicy", None, "'reject'"),
                                                     ("gpuKernels", "AOT", "'aot'"), ("gpuKernels", "eager", "'off'")])
def test_s21a_unknown_choice_is_refused_by_name_before_the_engine_starts(monkeypatch, model_folder, argument, value, choice):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.engine_runner import EngineManager
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLogic.errors import InputError

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(5).normal(0, 120, (3, 32, 32)).astype(np.int16)))
    engines = EngineManager(log=lambda text: None, extra_args=("--threads", "1"))
    logic = SDSegModuleLogic(engineManager=engines)
    try:
        for run in (logic.process, logic.startJob):  # the script's path and the panel's
            with pytest.raises(InputError) as refused:
                run(volume, model=str(model_folder), device="cpu", **{argument: value})
            text = str(refused.value)
            assert text.startswith(f"{argument}={value!r} ") and choice in text, text  # the script's name, the choices
            assert engines.process is None  # before: a cold engine was started to refuse nanPolicy
        assert not fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
    finally:
        engines.stop()
