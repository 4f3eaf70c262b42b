"""Importers: official key layout, EMA preference, legacy attention, kl-f8 and LDM UNet files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from SDSegLogic.config import preset
from SDSegLogic.errors import CheckpointError, WeightsMismatchError
from SDSegLogic.importers import (
    diffusers_unet_to_ldm,
    diffusers_vae_to_ldm,
    import_official_checkpoint,
    ldm_unet_to_diffusers,
    ldm_vae_to_diffusers,
    load_autoencoder_state,
    load_ldm_unet_init_state,
)
from SDSegLogic.importers.legacy_files import read_state_dict
from SDSegLogic.model_folder import load_model_folder
from SDSegLogic.models import SDSegModel
from SDSegLogic.pipeline import SDSegPipeline
from SDSegLogic.schedulers import NoiseSchedule

from engine_test_helpers import random_slices, tiny_card, tiny_config, tiny_model

KEYS_TSV = Path(__file__).resolve().parents[1] / "Data" / "sdseg-checkpoint-keys.tsv"


def _official_shapes() -> dict:
    rows = [line.rstrip("\n").split("\t") for line in KEYS_TSV.read_text().splitlines() if line and not line.startswith("#")]
    return {key: tuple(int(x) for x in shape.strip("()").split(",") if x.strip()) for key, shape in rows}


def _official_state(model: SDSegModel, ema_unet: SDSegModel | None = None, extra: dict | None = None) -> dict:
    """The tiny model's weights written in the official Lightning key layout."""
    cfg = model.config
    levels = len(cfg.autoencoder.block_out_channels)
    state = {f"model.diffusion_model.{k}": v for k, v in diffusers_unet_to_ldm(model.unet.state_dict(), cfg).items()}
    if ema_unet is not None:
        for k, v in diffusers_unet_to_ldm(ema_unet.unet.state_dict(), cfg).items():
            state["model_ema.diffusion_model" + k.replace(".", "")] = v
        state["model_ema.decay"] = torch.tensor(0.9999)
        state["model_ema.num_updates"] = torch.tensor(10, dtype=torch.int32)
    state.update({f"first_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(model.autoencoder.state_dict(), levels).items()})
    enc = {f"encoder.{k}": v for k, v in model.condition_encoder.encoder.state_dict().items()}
    state.update({f"cond_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(enc, levels).items()})
    state.update({f"cond_stage_model.out.{k}": v for k, v in model.condition_encoder.out.state_dict().items()})
    state["scale_factor"] = torch.tensor(cfg.scale_factor)
    state["alphas_cumprod"] = NoiseSchedule().alphas_cumprod.float()
    state.update(extra or {})
    return state


def test_official_key_list_maps_onto_our_modules_with_the_same_shapes():
    with torch.device("meta"):
        model = SDSegModel(preset("paper"))
    shapes = _official_shapes()
    fake = lambda prefix: {k[len(prefix):]: torch.empty(s, device="meta") for k, s in shapes.items() if k.startswith(prefix)}  # noqa: E731
    unet, unused = ldm_unet_to_diffusers(fake("model.diffusion_model."), model.config)
    assert unused == ["label_emb.weight"]  # the tsv lists the multi-class row separately
    for name, part in (("unet", unet), ("autoencoder", ldm_vae_to_diffusers(fake("first_stage_model."), 4))):
        ours = {k: tuple(v.shape) for k, v in model.component(name).state_dict().items()}
        assert {k: tuple(v.shape) for k, v in part.items()} == ours
    cond = ldm_vae_to_diffusers(fake("cond_stage_model."), 4)  # encoder.* renamed, out.* kept
    ours = {k: tuple(v.shape) for k, v in model.condition_encoder.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in cond.items()} == ours


def test_legacy_qkv_split_matches_an_independent_legacy_attention():
    """Official attention: GroupNorm, fused qkv conv with rows (head, {q,k,v}, ch), softmax, proj, residual."""
    model = tiny_model(std=0.4)
    attention = model.unet.mid_block.attentions[0]
    channels, heads = attention.inner_dim, 8
    gen = torch.Generator().manual_seed(0)
    qkv_w = torch.randn(3 * channels, channels, 1, generator=gen) * 0.5
    qkv_b = torch.randn(3 * channels, generator=gen) * 0.1
    proj_w = torch.randn(channels, channels, 1, generator=gen) * 0.5
    proj_b = torch.randn(channels, generator=gen) * 0.1
    norm_w, norm_b = attention.group_norm.weight.detach(), attention.group_norm.bias.detach()
    official = {
        "middle_block.1.qkv.weight": qkv_w, "middle_block.1.qkv.bias": qkv_b,
        "middle_block.1.proj_out.weight": proj_w, "middle_block.1.proj_out.bias": proj_b,
        "middle_block.1.norm.weight": norm_w, "middle_block.1.norm.bias": norm_b,
    }
    converted, _ = ldm_unet_to_diffusers(official, model.config)
    attention.load_state_dict({k[len("mid_block.attentions.0."):]: v for k, v in converted.items()})
    x = torch.randn(2, channels, 4, 4, generator=gen)
    # independent reference written from the legacy definition
    h = torch.nn.functional.group_norm(x, attention.group_norm.num_groups, norm_w, norm_b, attention.group_norm.eps)
    h = h.reshape(2, channels, 16)
    qkv = torch.nn.functional.conv1d(h, qkv_w, qkv_b).reshape(2 * heads, 3 * channels // heads, 16)
    q, k, v = qkv.split(channels // heads, dim=1)
    scale = 1 / math.sqrt(math.sqrt(channels // heads))
    weight = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale), dim=-1)
    a = torch.einsum("bts,bcs->bct", weight, v).reshape(2, channels, 16)
    expected = x + torch.nn.functional.conv1d(a, proj_w, proj_b).reshape(2, channels, 4, 4)
    with torch.no_grad():
        got = attention(x)
    assert torch.allclose(got, expected, atol=1e-5)


def test_official_checkpoint_imports_with_ema_unet_and_identical_outputs(tmp_path):
    raw, ema = tiny_model(seed=0), tiny_model(seed=1)
    ckpt = tmp_path / "sdseg.ckpt"
    state = _official_state(raw, ema, extra={"some_head.weight": torch.zeros(2)})
    torch.save({"state_dict": state, "global_step": 1234, "epoch": 3}, ckpt)
    report = import_official_checkpoint(ckpt, tmp_path / "model", card=tiny_card(), config=tiny_config())
    assert report.used_ema and report.num_classes is None
    assert report.scale_factor == pytest.approx(raw.config.scale_factor)
    assert report.unexpected_keys == ["some_head.weight"]
    assert "model_ema.decay" in report.ignored_keys and report.schedule_max_abs_diff < 1e-6
    expected = tiny_model(seed=0)
    expected.unet.load_state_dict(ema.unet.state_dict())
    loaded, _ = load_model_folder(report.folder)
    for a, b in zip(expected.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    x = random_slices(2)
    want = SDSegPipeline(expected, tiny_card(), device="cpu")(x, seed=0).probabilities
    got = SDSegPipeline.from_pretrained(report.folder, device="cpu")(x, seed=0).probabilities
    assert torch.equal(want, got)


def test_raw_unet_is_used_when_ema_is_not_preferred(tmp_path):
    raw, ema = tiny_model(seed=0), tiny_model(seed=1)
    ckpt = tmp_path / "sdseg.ckpt"
    torch.save({"state_dict": _official_state(raw, ema)}, ckpt)
    report = import_official_checkpoint(ckpt, tmp_path / "model", card=tiny_card(), config=tiny_config(), prefer_ema=False)
    loaded, _ = load_model_folder(report.folder)
    assert not report.used_ema
    assert all(torch.equal(a, b) for a, b in zip(raw.unet.state_dict().values(), loaded.unet.state_dict().values()))


def test_multiclass_checkpoint_is_detected_from_label_embedding(tmp_path):
    model = tiny_model(num_classes=3)
    ckpt = tmp_path / "multi.ckpt"
    torch.save({"state_dict": _official_state(model)}, ckpt)
    cfg = tiny_config(num_classes=3)
    report = import_official_checkpoint(ckpt, tmp_path / "m", card=tiny_card(num_classes=3), config=cfg)
    assert report.num_classes == 3 and not report.used_ema


def test_missing_tensors_are_named(tmp_path):
    state = _official_state(tiny_model())
    del state["model.diffusion_model.out.2.weight"]
    ckpt = tmp_path / "broken.ckpt"
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(WeightsMismatchError, match="conv_out.weight"):
        import_official_checkpoint(ckpt, tmp_path / "m", card=tiny_card(), config=tiny_config())


class _NotATensor:
    pass


def test_pickled_python_objects_are_refused_not_executed(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _NotATensor()}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_state_dict(path)
    truncated = tmp_path / "short.ckpt"
    torch.save({"state_dict": {"a": torch.zeros(100)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="short.ckpt"):
        read_state_dict(truncated)


def test_autoencoder_from_diffusers_folder_and_from_ldm_file(tmp_path):
    model = tiny_model()
    reference = model.autoencoder.state_dict()
    model.autoencoder.save_pretrained(tmp_path / "vae", safe_serialization=True)
    from_folder = load_autoencoder_state(tmp_path / "vae", levels=2)
    assert all(torch.equal(from_folder[k], v) for k, v in reference.items())
    ldm = {f"first_stage_model.{k}": v for k, v in diffusers_vae_to_ldm(reference, 2).items()}
    torch.save({"state_dict": ldm}, tmp_path / "kl-f8.ckpt")
    from_file = load_autoencoder_state(tmp_path / "kl-f8.ckpt", levels=2)
    assert from_file.keys() == reference.keys()
    assert all(torch.equal(from_file[k], v) for k, v in reference.items())
    with pytest.raises(CheckpointError, match="no autoencoder weights"):
        torch.save({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "none.ckpt")
        load_autoencoder_state(tmp_path / "none.ckpt")


def test_ldm_unet_initialisation_widens_the_first_conv_with_zeros(tmp_path):
    cfg = tiny_config()
    donor = tiny_model()
    official = diffusers_unet_to_ldm(donor.unet.state_dict(), cfg)
    official["input_blocks.0.0.weight"] = official["input_blocks.0.0.weight"][:, :4].clone()  # unconditional: 4 channels
    torch.save({"state_dict": {f"model.diffusion_model.{k}": v for k, v in official.items()}}, tmp_path / "churches.ckpt")
    state = load_ldm_unet_init_state(tmp_path / "churches.ckpt", cfg)
    weight = state["conv_in.weight"]
    assert weight.shape == (8, 8, 3, 3)
    assert torch.equal(weight[:, :4], official["input_blocks.0.0.weight"])
    assert torch.count_nonzero(weight[:, 4:]) == 0
    fresh = SDSegModel(cfg)
    fresh.unet.load_state_dict(state)  # strict: every tensor present
