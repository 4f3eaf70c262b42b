"""save_model_folder(shared_autoencoder=...) writes a folder that loads the model that was saved.

The folder references the shared file instead of a copy of ``model.autoencoder``; the docstring
requires that file to hold this model's autoencoder weights. A file with other weights gave a
folder that loads another autoencoder than the model saved (and verifies, since the card records
that file's digest); a file not named ``autoencoder*.safetensors`` gave a folder no loader can
load. Both are refused now, before anything is written.
"""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.errors import CheckpointError
from SDSegLogic.model_folder import load_model_folder, save_model_folder

from engine_test_helpers import tiny_card, tiny_model


def test_shared_autoencoder_with_other_weights_is_refused(tmp_path):
    other = save_model_folder(tmp_path / "other", tiny_model(seed=5), tiny_card())
    model = tiny_model(seed=0)
    target = tmp_path / "mine"
    with pytest.raises(CheckpointError, match="autoencoder"):
        save_model_folder(target, model, tiny_card(), shared_autoencoder=other / "autoencoder.safetensors")
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["other"]  # no staging folder left


def test_shared_autoencoder_file_that_no_loader_finds_is_refused(tmp_path):
    model = tiny_model(seed=0)
    first = save_model_folder(tmp_path / "a", model, tiny_card())
    renamed = tmp_path / "kl-f8-masks.safetensors"
    (first / "autoencoder.safetensors").rename(renamed)
    with pytest.raises(CheckpointError, match="kl-f8-masks.safetensors"):
        save_model_folder(tmp_path / "b", model, tiny_card(), shared_autoencoder=renamed)
    assert not (tmp_path / "b").exists()


def test_matching_shared_autoencoder_still_works_also_as_fp16(tmp_path):
    model = tiny_model(seed=0)
    half = save_model_folder(tmp_path / "half", model, tiny_card(), variant="fp16")
    shared = save_model_folder(tmp_path / "b", model, tiny_card(), variant="fp16",
                               shared_autoencoder=half / "autoencoder.fp16.safetensors")
    loaded, _ = load_model_folder(shared)
    for key, value in model.autoencoder.state_dict().items():
        assert torch.equal(loaded.autoencoder.state_dict()[key], value.half().float())
