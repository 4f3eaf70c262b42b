"""A script's out-of-range run option is refused by its own name, before any engine starts.

``SDSegModuleLogic.process(volume, steps=0)`` (or ``batchSize=0``, ``samples=100``, ``seed=-1``)
passed the panel's checks, started the engine on a cold Slicer (seconds to minutes: torch, the
model), and then failed with the engine's wording, ``option num_inference_steps=0 is out of range
[1, 1000]``, which names an option the script never passed. Now an ``InputError`` names the
argument (``steps=0``), what it takes and an example, and no engine is started. The limits are
the engine's (:mod:`SDSegLogic.segment_options`, ``SDSegLogic/server/jobs.py``): the last test
checks that every value the panel lets through is one the engine takes and the next one is not.
Against ``Testing/Slicer/fake_slicer.py`` with the real engine and the tiny two-class model.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path

ENGINE_NAMES = {"steps": "num_inference_steps", "samples": "num_samples", "batchSize": "batch_size", "seed": "seed"}


def _cold_logic(monkeypatch):
    """(CT volume, module logic with an engine manager that has started no engine, the manager)."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.engine_runner import EngineManager
    from SDSegLib.module_logic import SDSegModuleLogic

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(5).normal(0, 120, (3, 32, 32)).astype(np.int16)))
    engines = EngineManager(log=lambda text: None, extra_args=("--threads", "1"))
    return volume, SDSegModuleLogic(engineManager=engines), engines


@pytest.mark.parametrize("argument, value", [("steps", 0), ("batchSize", 0), ("samples", 65), ("seed", -1)])
def test_s20e2_out_of_range_option_is_named_before_the_engine_starts(monkeypatch, model_folder, argument, value):
    from SDSegLogic.errors import InputError

    volume, logic, engines = _cold_logic(monkeypatch)
    try:
        with pytest.raises(InputError) as refused:
            logic.process(volume, model=str(model_folder), device="cpu", **{argument: value})
        text = str(refused.value)
        assert text.startswith(f"{argument}={value} ") and "[engine error" not in text, text  # the script's name
        assert argument == ENGINE_NAMES[argument] or ENGINE_NAMES[argument] not in text, text
        assert engines.process is None  # before: the engine was started to refuse it
        with pytest.raises(InputError, match=f"{argument}={value}"):  # the panel's path, startJob, too
            logic.startJob(volume, model=str(model_folder), device="cpu", **{argument: value})
        assert engines.process is None
    finally:
        engines.stop()


def test_s20e2_panel_limits_are_the_engine_s():
    """Each limit the panel checks is one the engine takes, and one past it the engine refuses too."""
    from SDSegLib.run_options import OPTION_RANGES, check_run_options
    from SDSegLogic.errors import InputError
    from SDSegLogic.server.jobs import _int_option

    assert set(OPTION_RANGES) == set(ENGINE_NAMES)
    for argument, (low, high) in ((a, OPTION_RANGES[a][:2]) for a in ENGINE_NAMES):
        key = ENGINE_NAMES[argument]
        for inside in (low, high):
            assert check_run_options("cpu", **{argument: inside})[argument] == inside
            assert _int_option({key: inside}, key) == inside
        for outside in (low - 1, high + 1):
            with pytest.raises(InputError, match=f"{argument}={outside}"):
                check_run_options("cpu", **{argument: outside})
            with pytest.raises(InputError):
                _int_option({key: outside}, key)
