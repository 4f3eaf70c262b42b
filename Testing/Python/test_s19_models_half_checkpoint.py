"""An official checkpoint saved in half precision imports; a different (or NaN) noise schedule is refused.

Halving a Lightning checkpoint (``v.half()`` on every tensor, the usual way to halve a 5 GB file)
rounds its ``alphas_cumprod`` buffer by up to 2.4e-4, and the importer refused every such file as
having "a noise schedule that differs from ours" (tolerance 1e-5), telling the user to change a
schedule that was right. The check now allows the buffer's own rounding (its dtype's epsilon).
"""

from __future__ import annotations

import pytest
import torch
from engine_test_helpers import tiny_card, tiny_config, tiny_model

from SDSegLogic.config import ScheduleConfig
from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.importers.key_maps import diffusers_unet_to_ldm, diffusers_vae_to_ldm
from SDSegLogic.model_folder import load_model_folder
from SDSegLogic.schedulers import NoiseSchedule


def _official_state(model, schedule: ScheduleConfig = ScheduleConfig()) -> dict:
    """The tiny model's weights in the official Lightning key layout, with its schedule buffer."""
    cfg = model.config
    levels = len(cfg.autoencoder.block_out_channels)
    state = {f"model.diffusion_model.{k}": v for k, v in diffusers_unet_to_ldm(model.unet.state_dict(), cfg).items()}
    state.update({f"first_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(model.autoencoder.state_dict(), levels).items()})
    enc = {f"encoder.{k}": v for k, v in model.condition_encoder.encoder.state_dict().items()}
    state.update({f"cond_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(enc, levels).items()})
    state.update({f"cond_stage_model.out.{k}": v for k, v in model.condition_encoder.out.state_dict().items()})
    state["scale_factor"] = torch.tensor(cfg.scale_factor)
    state["alphas_cumprod"] = NoiseSchedule(schedule).alphas_cumprod.float()
    return state


def _halved(state: dict, dtype: torch.dtype) -> dict:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_checkpoint_saved_in_half_precision_imports_its_weights(tmp_path, dtype):
    state = _halved(_official_state(tiny_model(seed=0)), dtype)
    ckpt = tmp_path / "sdseg-half.ckpt"
    torch.save({"state_dict": state}, ckpt)
    report = import_official_checkpoint(ckpt, tmp_path / "model", card=tiny_card(), config=tiny_config())
    assert 0 < report.schedule_max_abs_diff < 1e-2
    loaded, _ = load_model_folder(report.folder)
    conv_in = state["model.diffusion_model.input_blocks.0.0.weight"]
    assert torch.equal(loaded.unet.conv_in.weight, conv_in.float())


def test_a_different_schedule_is_still_refused_in_half_precision(tmp_path):
    other = ScheduleConfig(beta_schedule="linear")  # diffusers "linear": alphas_cumprod off by up to 0.1
    state = _halved(_official_state(tiny_model(seed=0), other), torch.float16)
    ckpt = tmp_path / "sdseg-other.ckpt"
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(CheckpointError, match="noise schedule differs"):
        import_official_checkpoint(ckpt, tmp_path / "model", card=tiny_card(), config=tiny_config())
    assert not (tmp_path / "model").exists()


def test_a_schedule_buffer_holding_nan_is_refused(tmp_path):
    state = _official_state(tiny_model(seed=0))
    state["alphas_cumprod"] = state["alphas_cumprod"].clone()
    state["alphas_cumprod"][500] = float("nan")  # a corrupt buffer: NaN > 1e-5 is False, so it used to pass
    ckpt = tmp_path / "sdseg-nan.ckpt"
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(CheckpointError, match="noise schedule differs"):
        import_official_checkpoint(ckpt, tmp_path / "model", card=tiny_card(), config=tiny_config())
