"""EMA tensors that match no raw UNet tensor are reported as unexpected keys, as raw UNet extras are.

The importer takes the EMA UNet by matching each ``model_ema.diffusion_model<name without dots>``
to a raw ``model.diffusion_model.<name>``. An EMA tensor with no raw counterpart (another
architecture's EMA, a head added to the EMA copy only) was dropped without a word, while the same
extra in the raw UNet, or any key outside the known parts, is listed in ``unexpected_keys``.
"""

from __future__ import annotations

import torch
from engine_test_helpers import tiny_card, tiny_config, tiny_model

from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.importers.key_maps import diffusers_unet_to_ldm, diffusers_vae_to_ldm
from SDSegLogic.importers.official_checkpoint import convert_official_state
from SDSegLogic.model_folder import load_model_folder


def _official_state(raw, ema) -> dict:
    """The tiny model in the official Lightning key layout, with an EMA UNet (LitEma names: no dots)."""
    cfg = raw.config
    levels = len(cfg.autoencoder.block_out_channels)
    state = {f"model.diffusion_model.{k}": v for k, v in diffusers_unet_to_ldm(raw.unet.state_dict(), cfg).items()}
    for k, v in diffusers_unet_to_ldm(ema.unet.state_dict(), cfg).items():
        state["model_ema.diffusion_model" + k.replace(".", "")] = v
    state["model_ema.decay"] = torch.tensor(0.9999)
    state["model_ema.num_updates"] = torch.tensor(10, dtype=torch.int32)
    state.update({f"first_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(raw.autoencoder.state_dict(), levels).items()})
    enc = {f"encoder.{k}": v for k, v in raw.condition_encoder.encoder.state_dict().items()}
    state.update({f"cond_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(enc, levels).items()})
    state.update({f"cond_stage_model.out.{k}": v for k, v in raw.condition_encoder.out.state_dict().items()})
    state["scale_factor"] = torch.tensor(cfg.scale_factor)
    return state


EXTRAS = {
    "model_ema.diffusion_modelextra_headweight": torch.ones(3),  # an EMA tensor with no raw UNet tensor
    "model_ema.shadow_step": torch.zeros(1),  # an EMA entry that is neither a UNet tensor nor decay/num_updates
}


def test_ema_tensors_without_a_raw_counterpart_are_reported():
    raw, ema = tiny_model(seed=0), tiny_model(seed=1)
    state = {**_official_state(raw, ema), **EXTRAS}
    _, parts, report = convert_official_state(state, tiny_config())
    assert report.used_ema
    for key in EXTRAS:
        assert key in report.unexpected_keys, (key, report.unexpected_keys)
    assert "model_ema.decay" in report.ignored_keys and "model_ema.decay" not in report.unexpected_keys
    assert not any(k.startswith("model_ema.diffusion_modelinput") for k in report.unexpected_keys)
    assert torch.equal(parts["unet"]["conv_in.weight"], ema.unet.conv_in.weight)  # the EMA weights were taken


def test_the_import_still_succeeds_and_lists_them(tmp_path):
    raw, ema = tiny_model(seed=0), tiny_model(seed=1)
    ckpt = tmp_path / "sdseg.ckpt"
    torch.save({"state_dict": {**_official_state(raw, ema), **EXTRAS}}, ckpt)
    report = import_official_checkpoint(ckpt, tmp_path / "model", card=tiny_card(), config=tiny_config())
    assert sorted(EXTRAS) == sorted(k for k in report.unexpected_keys if k.startswith("model_ema."))
    loaded, _ = load_model_folder(report.folder)
    assert torch.equal(loaded.unet.conv_in.weight, ema.unet.conv_in.weight)


def test_without_ema_preference_the_unused_ema_copy_is_not_reported():
    raw, ema = tiny_model(seed=0), tiny_model(seed=1)
    _, parts, report = convert_official_state(_official_state(raw, ema), tiny_config(), prefer_ema=False)
    assert not report.used_ema and report.unexpected_keys == []
    assert torch.equal(parts["unet"]["conv_in.weight"], raw.unet.conv_in.weight)
