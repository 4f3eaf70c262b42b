"""Stage 1's resume checkpoint names the resolved ``data.image_resize`` (as stage 2's does), and a resume with
another resize mode is refused: the masks are resized on the mode's grid."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402

STAGE1 = ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=8", "data.multiclass=true",
          "model.num_classes=3", "autoencoder.max_steps=4", "autoencoder.val_every=2", "autoencoder.batch_size=4"]


def test_stage1_resume_records_the_resolved_image_resize_and_refuses_another(tmp_path):
    def ctrl_c_after_step_2(line: str) -> None:
        if line.startswith("step 2:"):
            os.kill(os.getpid(), signal.SIGINT)

    out = [f"autoencoder.output_dir={tmp_path / 'ae'}"]
    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(load_config(None, STAGE1 + out), log=ctrl_c_after_step_2)
    folder = tmp_path / "ae" / "stage1-resume"
    recorded = json.loads((folder / "state.json").read_text())["config"]["data"]
    assert recorded["image_resize"] == "bilinear"  # phantom2d's default, named rather than null

    with pytest.raises(TrainingConfigError, match=r"data\.image_resize: bilinear in the run, pillow-bilinear now"):
        train_autoencoder(load_config(None, STAGE1 + out + ["data.image_resize=pillow-bilinear"]), log=lambda *_: None)
    assert folder.is_dir()  # the refusal leaves the interrupted run resumable
