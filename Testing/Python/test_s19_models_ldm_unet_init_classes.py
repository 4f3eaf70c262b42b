"""A multi-class model can start from an unconditional LDM UNet (the official multi-class recipe).

The official multi-class configs (``synapse-cls14``) initialise the UNet from LSUN-Churches, whose
UNet has no class embedding ("no pretrain weight": ``label_emb`` keeps its fresh initialisation).
``load_ldm_unet_init_state`` returned no ``class_embedding.weight`` for such a config, so the strict
load of the training package failed with "missing 1: class_embedding.weight".
"""

from __future__ import annotations

import torch
from engine_test_helpers import tiny_config, tiny_model

from SDSegLogic.importers import load_ldm_unet_init_state
from SDSegLogic.importers.key_maps import diffusers_unet_to_ldm
from SDSegLogic.model_folder import load_state_dict_checked
from SDSegLogic.models import SDSegModel


def _churches_like(tmp_path):
    """An unconditional LDM UNet checkpoint (4 input channels, no label_emb), as LSUN-Churches."""
    donor = tiny_model()
    official = diffusers_unet_to_ldm(donor.unet.state_dict(), donor.config)
    official["input_blocks.0.0.weight"] = official["input_blocks.0.0.weight"][:, :4].clone()
    path = tmp_path / "churches.ckpt"
    torch.save({"state_dict": {f"model.diffusion_model.{k}": v for k, v in official.items()}}, path)
    return path, official


def test_a_multiclass_unet_loads_strictly_from_an_unconditional_ldm_unet(tmp_path):
    path, official = _churches_like(tmp_path)
    cfg = tiny_config(num_classes=4)
    torch.manual_seed(3)
    state = load_ldm_unet_init_state(path, cfg)
    fresh = SDSegModel(cfg)
    load_state_dict_checked(fresh.unet, state, str(path))  # every tensor present, names and shapes checked
    embedding = fresh.unet.class_embedding.weight.detach()
    assert embedding.shape == (4, fresh.unet.time_embedding.linear_2.weight.shape[0])
    assert 0.5 < float(embedding.std()) < 1.5 and len({tuple(row.tolist()) for row in embedding}) == 4  # N(0, 1) rows
    assert torch.equal(fresh.unet.time_embedding.linear_1.weight, official["time_embed.0.weight"])
    torch.manual_seed(3)
    assert torch.equal(load_ldm_unet_init_state(path, cfg)["class_embedding.weight"], embedding)  # seeded: reproducible


def test_a_binary_unet_gets_no_class_embedding(tmp_path):
    path, _ = _churches_like(tmp_path)
    assert "class_embedding.weight" not in load_ldm_unet_init_state(path, tiny_config())
