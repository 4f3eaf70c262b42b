"""Official-layout checkpoints that cannot import are refused as what they are, naming file, keys and remedy.

Before: an unconditional LDM checkpoint (LSUN-Churches layout: UNet and first stage only) or one whose
``cond_stage_model`` is another conditioning model was refused for a 4-channel ``conv_in`` or 50-odd
missing condition-encoder tensors, with the remedy "use the config.json these weights were trained with",
a config the user never had.
"""

from __future__ import annotations

import pytest
import torch
from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state

from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers import import_official_checkpoint


def _without_cond_stage(extra: dict) -> dict:
    state = {k: v for k, v in _official_state(tiny_model()).items() if not k.startswith("cond_stage_model.")}
    state.update(extra)
    return state


@pytest.mark.parametrize("extra, said", [
    ({}, "no cond_stage_model.* tensors (an unconditional LDM"),
    ({"cond_stage_model.transformer.embeddings.weight": torch.zeros(4, 2)},
     "another conditioning model (e.g. cond_stage_model.transformer.embeddings.weight)"),
])
def test_a_checkpoint_without_the_sdseg_image_encoder_is_called_not_an_sdseg_checkpoint(tmp_path, extra, said):
    checkpoint = tmp_path / "ldm.ckpt"
    torch.save({"state_dict": _without_cond_stage(extra)}, checkpoint)
    with pytest.raises(CheckpointError) as caught:
        import_official_checkpoint(checkpoint, tmp_path / "model", card=tiny_card(), config=tiny_config())
    text = str(caught.value)
    assert str(checkpoint) in text and "not an SDSeg checkpoint" in text and said in text
    assert "model.unet_init" in text and "config.json" not in text
    assert not (tmp_path / "model").exists()


def test_a_complete_sdseg_checkpoint_still_imports(tmp_path):
    checkpoint = tmp_path / "sdseg.ckpt"
    torch.save({"state_dict": _official_state(tiny_model())}, checkpoint)
    report = import_official_checkpoint(checkpoint, tmp_path / "model", card=tiny_card(), config=tiny_config())
    assert report.folder.is_dir() and report.unexpected_keys == []


def test_an_incomplete_ema_copy_names_the_checkpoint_keys_and_the_remedy(tmp_path):
    """Before: the keys were named without their prefix ('input_blocks00bias'), a name found nowhere in the file."""
    state = _official_state(tiny_model(seed=0), tiny_model(seed=1))
    del state["model_ema.diffusion_modelinput_blocks00bias"]
    checkpoint = tmp_path / "sdseg.ckpt"
    torch.save({"state_dict": state}, checkpoint)
    with pytest.raises(CheckpointError) as caught:
        import_official_checkpoint(checkpoint, tmp_path / "model", card=tiny_card(), config=tiny_config())
    text = str(caught.value)
    assert str(checkpoint) in text and "prefer_ema=False" in text
    assert "model_ema.diffusion_modelinput_blocks00bias (of model.diffusion_model.input_blocks.0.0.bias)" in text


def test_an_existing_output_folder_is_refused_before_the_checkpoint_is_read(tmp_path):
    """Before: the whole checkpoint was read, converted and built into a model first (minutes for the paper model)."""
    checkpoint = tmp_path / "sdseg.ckpt"
    checkpoint.write_bytes(b"not read")  # unreadable: reading it would fail with another message
    (tmp_path / "model").mkdir()
    with pytest.raises(CheckpointError) as caught:
        import_official_checkpoint(checkpoint, tmp_path / "model", card=tiny_card(), config=tiny_config())
    assert "model: already exists" in str(caught.value) and "overwrite=True" in str(caught.value)
