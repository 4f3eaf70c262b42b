"""model.unet_init from an LDM checkpoint: the training UNet (model.diffusion_model.*), as the official
SDSeg.init_from_ckpt loads it, not the checkpoint's EMA copy (model_ema.*)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from SDSegLogic.importers import diffusers_unet_to_ldm  # noqa: E402

from engine_test_helpers import tiny_model  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.modeling import build_model, build_model_config  # noqa: E402


def _ldm_checkpoint(path: Path, config, with_ema: bool) -> dict:
    """A Lightning checkpoint of an unconditional LDM (4-channel first conv); returns its training UNet.

    With ``with_ema`` it also holds ``model_ema.*`` (LitEma's names: the key without its dots) with
    other values, and the EMA's bookkeeping, as LDM's checkpoints do.
    """
    training = diffusers_unet_to_ldm(tiny_model(seed=1).unet.state_dict(), config)
    ema = diffusers_unet_to_ldm(tiny_model(seed=2).unet.state_dict(), config)
    for state in (training, ema):
        state["input_blocks.0.0.weight"] = state["input_blocks.0.0.weight"][:, :4].clone()
    entries = {f"model.diffusion_model.{k}": v for k, v in training.items()}
    if with_ema:
        entries.update({f"model_ema.diffusion_model{k.replace('.', '')}": v for k, v in ema.items()})
        entries["model_ema.decay"] = torch.tensor(0.9999)
        entries["model_ema.num_updates"] = torch.tensor(5000, dtype=torch.int32)
    torch.save({"state_dict": entries}, path)
    return training


def _built_unet(ckpt: Path) -> torch.nn.Module:
    cfg = load_config(None, ["model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null",
                             "data.kind=phantom2d", "data.size=32", f"model.unet_init={ckpt}"])
    return build_model(build_model_config(cfg.model, cfg.data), cfg.model).unet


def test_unet_init_takes_the_training_weights_not_the_ema(tmp_path):
    config = tiny_model().config
    both = _ldm_checkpoint(tmp_path / "both.ckpt", config, with_ema=True)
    _ldm_checkpoint(tmp_path / "training_only.ckpt", config, with_ema=False)
    from_both = _built_unet(tmp_path / "both.ckpt").state_dict()
    from_training = _built_unet(tmp_path / "training_only.ckpt").state_dict()
    # the EMA copy present changes nothing: the UNet is the checkpoint's model.diffusion_model.*
    assert from_both.keys() == from_training.keys()
    assert all(torch.equal(from_both[k], from_training[k]) for k in from_both)
    # and that is the training UNet (not a random init): its first conv, widened with zero filters
    conv = from_both["conv_in.weight"]
    assert torch.equal(conv[:, :4], both["input_blocks.0.0.weight"]) and torch.count_nonzero(conv[:, 4:]) == 0
    assert torch.equal(from_both["conv_out.weight"], both["out.2.weight"])
