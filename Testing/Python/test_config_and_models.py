"""Architecture: presets, parameter counts, the 8-head rule, configuration errors."""

from __future__ import annotations

import json

import pytest
import torch

from SDSegLogic.config import PRESETS, SDSegConfig, preset
from SDSegLogic.errors import ConfigError
from SDSegLogic.models import SDSegModel

from engine_test_helpers import tiny_config, tiny_model


def _meta_model(cfg: SDSegConfig) -> SDSegModel:
    with torch.device("meta"):
        return SDSegModel(cfg)


def test_paper_preset_parameter_counts_match_the_official_model():
    counts = _meta_model(preset("paper")).parameter_counts()
    assert counts["unet"] == 294_973_828
    assert counts["condition_encoder"] == 34_163_628
    assert counts["autoencoder"] == 83_653_863


def test_multiclass_adds_one_embedding_row_per_class():
    base = preset("paper")
    cfg = base.replace(unet=base.unet.__class__(**{**base.unet.__dict__, "num_classes": 14}))
    assert _meta_model(cfg).parameter_counts()["unet"] == 294_973_828 + 14 * 768


def test_lite_preset_fits_the_cpu_demo_budget():
    counts = _meta_model(preset("lite")).parameter_counts()
    assert counts["total"] * 2 <= 25 * 10**6  # fp16 bytes


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_attention_layer_has_eight_heads(name):
    from diffusers.models.attention_processor import Attention

    model = _meta_model(preset(name))
    attentions = [m for m in model.unet.modules() if isinstance(m, Attention)]
    assert attentions, "the UNet must contain attention layers"
    assert {a.heads for a in attentions} == {8}
    if name == "paper":
        widths = sorted({a.inner_dim // a.heads for a in attentions})
        assert widths == [24, 48, 96]


def test_heads_change_the_output_of_attention():
    """The head count is numerically relevant (so the patch is not cosmetic)."""
    from SDSegLogic.models.unet import set_attention_heads

    model = tiny_model()
    x = torch.randn(1, 8, 16, 16)
    t = torch.tensor([999])
    with torch.no_grad():
        eight = model.unet(x, t).sample
        set_attention_heads(model.unet, 2)
        two = model.unet(x, t).sample
    assert (eight - two).abs().max() > 1e-4


def test_component_shapes_and_dtypes():
    model = tiny_model()
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        cond = model.encode_condition(image)
        eps = model.predict_noise(torch.randn_like(cond), cond, torch.tensor([999, 10]))
        decoded = model.decode_latent(eps)
        soft = model.soft_map(decoded)
    assert cond.shape == (2, 4, 16, 16) and cond.dtype == torch.float32
    assert eps.shape == (2, 4, 16, 16)
    assert decoded.shape == (2, 3, 32, 32)
    assert soft.shape == (2, 32, 32) and 0.0 <= float(soft.min()) and float(soft.max()) <= 1.0


def test_condition_encoder_dropout_is_configurable_and_only_active_in_training():
    model = tiny_model()
    drops = [m.p for name, m in model.condition_encoder.named_modules()
             if isinstance(m, torch.nn.Dropout) and ".resnets." in name]  # LDM's encoder: ResNet blocks only
    assert drops and set(drops) == {0.2}
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.encode_condition(image), model.encode_condition(image))


def test_config_json_round_trip(tmp_path):
    cfg = tiny_config(num_classes=3, scale_factor=0.123)
    path = tmp_path / "config.json"
    cfg.to_json(path)
    assert SDSegConfig.from_json(path) == cfg


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(bogus=1), "unknown key 'bogus'"),
        (lambda d: d["unet"].update(attention_levels=[True]), "attention_levels"),
        (lambda d: d["unet"].update(attention_heads=3), "attention_heads=3"),
        (lambda d: d.update(sample_size=30), "sample_size 30"),
        (lambda d: d.update(scale_factor=0), "scale_factor"),
        (lambda d: d["autoencoder"].update(colour=1), r"unknown keys \['colour'\]"),
        (lambda d: d.update(format_version=99), "upgrade SDSegLogic"),
    ],
)
def test_bad_configs_raise_config_error_naming_the_problem(tmp_path, mutate, message):
    data = tiny_config().to_dict()
    mutate(data)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message) as info:
        SDSegConfig.from_json(path)
    assert str(path) in str(info.value)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="lite"):
        preset("huge")
