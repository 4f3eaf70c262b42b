"""Saving the ``fp16`` variant refuses weights that float16 cannot hold, instead of writing infinities.

float16 ends at 65504: a weight beyond it became ``inf`` in ``<component>.fp16.safetensors``, the
folder was written with valid sha256 digests, and every segmentation with it produced NaN maps.
Now nothing is written and the error names the tensor, its largest magnitude and the remedy.
"""

from __future__ import annotations

import pytest
import torch
from engine_test_helpers import random_slices, tiny_card, tiny_model

from SDSegLogic.errors import CheckpointError
from SDSegLogic.model_folder import load_model_folder, save_model_folder
from SDSegLogic.pipeline import SDSegPipeline


def test_a_weight_beyond_float16_is_refused_and_nothing_is_written(tmp_path):
    model = tiny_model(seed=0)
    with torch.no_grad():
        model.unet.conv_out.weight[0, 0, 0, 0] = 1.0e5
    with pytest.raises(CheckpointError) as caught:
        save_model_folder(tmp_path / "m", model, tiny_card(), variant="fp16")
    text = str(caught.value)
    assert "conv_out.weight" in text and "65504" in text and "variant" in text
    assert not (tmp_path / "m").exists() and not any(tmp_path.iterdir())


def test_the_same_model_saves_in_full_precision_and_stays_finite(tmp_path):
    model = tiny_model(seed=0)
    with torch.no_grad():
        model.unet.conv_out.weight[0, 0, 0, 0] = 1.0e5
    folder = save_model_folder(tmp_path / "m", model, tiny_card())
    loaded, _ = load_model_folder(folder)
    assert loaded.unet.conv_out.weight[0, 0, 0, 0].item() == 1.0e5


def test_an_ordinary_model_still_saves_in_fp16_and_segments(tmp_path):
    folder = save_model_folder(tmp_path / "m", tiny_model(seed=1), tiny_card(), variant="fp16")
    loaded, card = load_model_folder(folder)
    assert all(torch.isfinite(p).all() for p in loaded.parameters())
    out = SDSegPipeline(loaded, card, device="cpu")(random_slices(1), seed=0)
    assert torch.isfinite(out.probabilities).all()
