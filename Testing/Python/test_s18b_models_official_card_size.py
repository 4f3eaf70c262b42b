"""The placeholder card of an imported official checkpoint states the config's image size.

With a config other than the paper's (``tiny``: 32 x 32 slices), the placeholder card kept
``training_size=256``, so ``sdseg models info`` told users to expect 256-pixel slices while the
network is built for ``config.sample_size`` (image pixels; the latent is ``sample_size / 8``).
"""

from __future__ import annotations

import dataclasses

import torch
from engine_test_helpers import tiny_config, tiny_model
from test_importers import _official_state

from SDSegLogic.config import SDSegConfig
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.model_card import ModelCard


def test_the_placeholder_card_training_size_is_the_config_sample_size(tmp_path):
    ckpt = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": _official_state(tiny_model())}, ckpt)
    for size in (32, 64):  # the tiny network is size-agnostic: the same weights fit any multiple of 4
        config = dataclasses.replace(tiny_config(), sample_size=size)
        report = import_official_checkpoint(ckpt, tmp_path / f"m{size}", config=config)
        card = ModelCard.from_json(report.folder / "model_card.json")
        saved = SDSegConfig.from_json(report.folder / "config.json")
        assert saved.sample_size == size
        assert card.training_size == saved.sample_size
