"""A model folder is not written with a card whose classes do not fit the network.

``save_model_folder`` (used by the official-checkpoint importer) wrote whatever card it was
given; a 3-class checkpoint imported with a binary card gave a folder that ``sdseg models
verify`` flags and every segmentation refuses ("network classes"). The mismatch is now refused
before anything is written, naming both counts.
"""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.errors import ModelCardError
from SDSegLogic.importers import diffusers_unet_to_ldm, diffusers_vae_to_ldm, import_official_checkpoint
from SDSegLogic.model_folder import save_model_folder, verify_model_folder

from engine_test_helpers import tiny_card, tiny_config, tiny_model


def _official_checkpoint(model, path):
    """The tiny model written in the official Lightning key layout (no EMA copy)."""
    cfg = model.config
    state = {f"model.diffusion_model.{k}": v for k, v in diffusers_unet_to_ldm(model.unet.state_dict(), cfg).items()}
    state.update({f"first_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(model.autoencoder.state_dict(), 2).items()})
    enc = {f"encoder.{k}": v for k, v in model.condition_encoder.encoder.state_dict().items()}
    state.update({f"cond_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(enc, 2).items()})
    state.update({f"cond_stage_model.out.{k}": v for k, v in model.condition_encoder.out.state_dict().items()})
    state["scale_factor"] = torch.tensor(cfg.scale_factor)
    torch.save({"state_dict": state}, path)
    return path


def test_multiclass_checkpoint_with_a_binary_card_is_refused_and_nothing_written(tmp_path):
    ckpt = _official_checkpoint(tiny_model(num_classes=3), tmp_path / "multi.ckpt")
    target = tmp_path / "model"
    with pytest.raises(ModelCardError, match=r"1 class.*3"):
        import_official_checkpoint(ckpt, target, card=tiny_card(), config=tiny_config(num_classes=3))
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi.ckpt"]  # no staging folder left


@pytest.mark.parametrize("model_classes, card_classes", [(None, 3), (4, 3), (3, None)])
def test_save_refuses_a_card_that_does_not_fit_the_network(tmp_path, model_classes, card_classes):
    with pytest.raises(ModelCardError, match="network"):
        save_model_folder(tmp_path / "m", tiny_model(model_classes), tiny_card(card_classes))
    assert not (tmp_path / "m").exists()


def test_fitting_cards_still_save_and_verify(tmp_path):
    for classes in (None, 3):
        folder = save_model_folder(tmp_path / f"m{classes}", tiny_model(classes), tiny_card(classes))
        assert verify_model_folder(folder) == []
