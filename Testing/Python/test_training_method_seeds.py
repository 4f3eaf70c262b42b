"""Every seed the config accepts seeds the training streams: no overflow at the first step."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.seeds import dropout_seed, step_generator  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402


def test_step_generator_keeps_the_stream_of_small_seeds_and_takes_large_and_negative_ones():
    expected = torch.Generator().manual_seed(((7 * 1_000_003 + 3) * 1009 + 1) * 101 + 2)  # the stream runs were trained with
    assert torch.equal(torch.randn(4, generator=step_generator(7, 3, 1, 2)), torch.randn(4, generator=expected))
    for seed in (2**31 - 1, 1_700_000_000, -1, -(2**40)):
        draws = torch.randn(4, generator=step_generator(seed, 0, 0, 0))
        assert not torch.equal(draws, torch.randn(4, generator=step_generator(seed, 1, 0, 0)))  # steps still differ
    assert dropout_seed(-1, 1) != dropout_seed(-1, 2)


@pytest.mark.parametrize("seed", [2**31 - 1, -1, 2**62])  # a 32-bit seed, a negative one, one the data sampler overflowed on
def test_stage2_trains_with_a_large_or_negative_seed(tmp_path, seed):
    cfg = load_config(None, [
        "model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=phantom2d",
        "data.size=32", "data.phantom_cases=6", f"train.output_dir={tmp_path}", "train.batch_size=2",
        "train.val_every=1000", f"train.seed={seed}",
    ])
    assert Stage2Trainer(cfg, resume="none").run(max_steps=1)["step"] == 1


@pytest.mark.parametrize("seed", [-1])
def test_stage1_trains_with_a_negative_seed(tmp_path, seed):
    cfg = load_config(None, [
        "model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=6",
        f"autoencoder.output_dir={tmp_path / 'ae'}", "autoencoder.max_steps=1", "autoencoder.val_every=1",
        "autoencoder.batch_size=2", f"train.output_dir={tmp_path / 'run'}", f"train.seed={seed}",
    ])
    assert train_autoencoder(cfg, log=lambda *_: None)["steps_run"] == 1
