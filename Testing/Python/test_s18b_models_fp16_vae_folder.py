"""A diffusers autoencoder folder that holds only the half-precision variant loads, as float32.

``diffusers`` saves ``diffusion_pytorch_model.fp16.safetensors`` with ``variant="fp16"`` (Stable
Diffusion snapshots ship such ``vae/`` folders); the importer refused a folder with only that file
("not a diffusers autoencoder folder"). fp16 -> fp32 is exact, so it now loads those weights upcast.
"""

from __future__ import annotations

import pytest
import torch
from engine_test_helpers import tiny_model

from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers import load_autoencoder_state
from SDSegLogic.model_folder import load_state_dict_checked


def test_a_folder_with_only_the_fp16_variant_loads_upcast_and_exact(tmp_path):
    model = tiny_model()
    folder = tmp_path / "vae"
    model.autoencoder.to(torch.float16).save_pretrained(folder, safe_serialization=True, variant="fp16")
    assert (folder / "diffusion_pytorch_model.fp16.safetensors").is_file()
    assert not (folder / "diffusion_pytorch_model.safetensors").exists()
    state = load_autoencoder_state(folder, levels=2)
    half = model.autoencoder.state_dict()
    assert state.keys() == half.keys()
    assert all(v.dtype == torch.float32 and torch.equal(v, half[k].float()) for k, v in state.items())
    target = tiny_model(seed=1).autoencoder
    load_state_dict_checked(target, state, str(folder))
    assert all(torch.equal(v, half[k].float()) for k, v in target.state_dict().items())


def test_full_precision_is_preferred_and_a_folder_without_weights_is_still_refused(tmp_path):
    model = tiny_model()
    folder = tmp_path / "vae"
    model.autoencoder.save_pretrained(folder, safe_serialization=True)
    model.autoencoder.to(torch.float16).save_pretrained(folder, safe_serialization=True, variant="fp16")
    reference = tiny_model().autoencoder.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in load_autoencoder_state(folder, levels=2).items())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not a diffusers autoencoder folder"):
        load_autoencoder_state(empty, levels=2)
