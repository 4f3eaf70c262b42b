"""Fast-decoder distillation (issue 5, opt-in): it learns the teacher, reports Dice, exports a loadable folder."""

from __future__ import annotations

import json

import numpy as np
import torch

from SDSegLogic.config import FastDecoderConfig
from SDSegLogic.model_folder import load_model_folder, save_model_folder
from SDSegLogic.pipeline import SDSegPipeline
from sdseg_training.distill_decoder import distill_fast_decoder, evaluate_fast_decoder, main, phantom_masks

from engine_test_helpers import random_slices, tiny_card, tiny_model


def test_phantom_masks_are_deterministic_binary_and_varied():
    a, b = phantom_masks(0, 6, 32), phantom_masks(0, 6, 32)
    assert a.dtype == bool and a.shape == (6, 32, 32)
    assert np.array_equal(a, b)
    assert len({m.sum() for m in a}) > 3


def test_distillation_lowers_the_loss_towards_the_teacher():
    model = tiny_model(std=0.1)
    masks = phantom_masks(0, 32, 32)
    student, history = distill_fast_decoder(model, masks, FastDecoderConfig((8, 8), (1, 1)), steps=60, batch=4, lr=3e-3, log_every=20)
    assert [step for step, _ in history] == [20, 40, 60]
    assert history[-1][1] < history[0][1]
    assert all(torch.equal(a, b) for a, b in zip(model.autoencoder.state_dict().values(), student.autoencoder.state_dict().values()))
    report = evaluate_fast_decoder(student, phantom_masks(5, 8, 32))
    assert set(report) >= {"dice_autoencoder_decoder", "dice_fast_decoder", "dice_delta", "dice_fast_vs_autoencoder"}
    assert report["dice_delta"] == round(report["dice_fast_decoder"] - report["dice_autoencoder_decoder"], 5)


def test_command_exports_a_model_folder_with_an_opt_in_fast_decoder(tmp_path, capsys):
    source = save_model_folder(tmp_path / "model", tiny_model(), tiny_card())
    before = sorted(p.name for p in source.iterdir())
    assert main([str(source), str(tmp_path / "fast"), "--steps", "10", "--batch", "2", "--channels", "8",
                 "--train-masks", "8", "--eval-masks", "4"]) == 0
    assert sorted(p.name for p in source.iterdir()) == before  # the input folder is untouched
    model, card = load_model_folder(tmp_path / "fast")
    assert model.fast_decoder is not None and card.fast_decoder["opt_in"] is True
    assert "dice_delta" in json.loads(capsys.readouterr().out)
    out = SDSegPipeline(model, card, device="cpu", fast_decoder=True)(random_slices(1))
    assert out.probabilities.shape == (1, 32, 32)
