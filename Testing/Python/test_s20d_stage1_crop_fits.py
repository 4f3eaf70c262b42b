"""``autoencoder.crop`` must fit the autoencoder's downsampling, or stage 1 is refused before it writes anything.

A crop the autoencoder cannot reproduce at its size (7 px through the tiny preset's 2x downsampling decodes to
6 px) used to pass every check, write ``split.json`` and ``tb/`` into ``autoencoder.output_dir``, then stop at the
first step with PyTorch's "The size of tensor a (6) must match the size of tensor b (7)". A tiny real stage 1 on
phantom data runs here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402


def _config(tmp_path: Path, crop: int):
    return load_config(None, ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=6",
                              "autoencoder.max_steps=1", "autoencoder.val_every=1", "autoencoder.batch_size=2",
                              f"autoencoder.crop={crop}", f"autoencoder.output_dir={tmp_path / 'ae'}",
                              f"train.output_dir={tmp_path / 's2'}", "model.autoencoder=null"])


def test_a_crop_the_autoencoder_cannot_reproduce_is_refused_before_any_write(tmp_path):
    with pytest.raises(TrainingConfigError, match=r"autoencoder\.crop=7.*(6 or 8)"):
        train_autoencoder(_config(tmp_path, 7), log=lambda *_: None)
    assert not (tmp_path / "ae").exists()


def test_a_crop_that_fits_trains(tmp_path):
    metrics = train_autoencoder(_config(tmp_path, 8), log=lambda *_: None)
    assert metrics["num_masks"] > 0 and (tmp_path / "ae" / "autoencoder.safetensors").is_file()
