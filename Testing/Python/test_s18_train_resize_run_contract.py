"""The image resize (``data.image_resize``) is part of a run's data contract, like its kind, size and window.

A run resumed with another resize would go on learning from other inputs than it started with, and
exporting it under another resize would write a card the networks never saw; evaluating it on data
resized otherwise is legitimate but must say so. ``prepare_demo_ct`` writes the demo archive in the
config's resize, which the loader then reads back (it refuses an archive of another resize).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.run_compat import check_same_data, other_data_note  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


def _recorded(**data) -> dict:
    base = {"kind": "phantom2d", "size": 32, "window": None, "image_resize": None}
    base.update(data)
    return {"config": {"data": base}}


@pytest.mark.parametrize("doing", ["resume", "export"])
def test_another_resize_than_the_run_recorded_is_refused(tmp_path, doing):
    cfg = load_config(None, ["data.kind=phantom2d", "data.size=32", "data.image_resize=pillow-bilinear"])
    with pytest.raises(TrainingConfigError, match=r"data\.image_resize: bilinear in the run, pillow-bilinear now"):
        check_same_data(tmp_path / "step-00000002", _recorded(), cfg, doing)


def test_the_kind_default_equals_its_explicit_value():
    cfg = load_config(None, ["data.kind=phantom2d", "data.size=32", "data.image_resize=bilinear"])
    check_same_data(Path("run/step-00000002"), _recorded(), cfg, "resume")  # null recorded = the kind's bilinear


def test_evaluating_on_data_resized_otherwise_is_reported(tmp_path):
    cfg = load_config(None, ["data.kind=phantom2d", "data.size=32", "data.image_resize=corners-bilinear"])
    note = other_data_note(tmp_path / "best", _recorded(image_resize="pillow-bicubic"), cfg)
    assert note is not None and "image_resize: pillow-bicubic in the run, corners-bilinear now" in note


def test_prepare_demo_ct_writes_the_config_s_resize(tmp_path):
    from sdseg_training.prepare_demo_ct import main

    out = tmp_path / "demo.npz"
    assert main([str(CONFIGS / "demo_ct_lite.yaml"), "data.size=32", "data.image_resize=pillow-bilinear",
                 "--out", str(out)]) == 0
    with np.load(out) as arrays:
        assert str(arrays["image_resize"]) == "pillow-bilinear"
