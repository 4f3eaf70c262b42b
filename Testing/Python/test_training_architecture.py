"""``model.architecture``: changing the preset's autoencoder latent (channels, downsampling factor)
for stage 1 and stage 2 alike, with clear errors when the parts or the stages do not fit."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import torch

from SDSegLogic.pipeline import SDSegPipeline

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.modeling import build_model, build_model_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

TINY = ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=10", "data.multiclass=true",
        "model.num_classes=3", "train.batch_size=2", "train.log_every=1", "optim.warmup_steps=1"]
WIDE_LATENT = "model.architecture={autoencoder: {latent_channels: 8}}"
FACTOR_4 = "model.architecture={autoencoder: {block_out_channels: [8, 8, 8]}, condition_encoder: {block_out_channels: [8, 8, 8]}}"


def _config(*extra: str):
    cfg = load_config(None, TINY + list(extra))
    return build_model_config(cfg.model, cfg.data)


def test_architecture_changes_latent_channels_and_grid_of_the_preset():
    base = _config()
    assert (base.latent_channels, base.latent_size) == (4, 16)
    wide = _config(WIDE_LATENT)
    assert (wide.latent_channels, wide.latent_size) == (8, 16)
    assert wide.unet == base.unet and wide.autoencoder.block_out_channels == base.autoencoder.block_out_channels
    finer = _config(FACTOR_4)
    assert finer.autoencoder.downsample_factor == 4 and finer.latent_size == 8
    assert finer.unet.num_classes == 3 and finer.unet.dropout == base.unet.dropout  # run settings still applied


@pytest.mark.parametrize("arch, message", [
    ("{vae: {latent_channels: 8}}", r"unknown parts \['vae'\]"),
    ("{autoencoder: {latent_chanels: 8}}", r"unknown keys \['latent_chanels'\]"),
    ("{autoencoder: {block_out_channels: [8, 8, 8]}}", "condition encoder downsamples by 2 but the autoencoder by 4"),
    ("{autoencoder: 8}", r"model.architecture.autoencoder must map field names"),
])
def test_architecture_errors_name_the_setting(arch, message):
    with pytest.raises(TrainingConfigError, match=message):
        _config(f"model.architecture={arch}")


@pytest.fixture(scope="module")
def wide_stage1(tmp_path_factory):
    """A stage-1 output with 8 latent channels (two real training steps of the tiny preset)."""
    root = tmp_path_factory.mktemp("wide")
    ae_dir = root / "ae"
    stage1 = load_config(None, TINY + [WIDE_LATENT, f"autoencoder.output_dir={ae_dir}", "autoencoder.max_steps=2",
                                       "autoencoder.val_every=2", "autoencoder.batch_size=2",
                                       f"train.output_dir={root / 'split'}", "model.autoencoder=null"])
    train_autoencoder(stage1, log=lambda *_: None)
    return ae_dir


def test_stage2_uses_a_wider_stage1_latent_and_refuses_a_mismatched_one(wide_stage1, tmp_path):
    ae_dir = wide_stage1

    stage2 = load_config(None, TINY + [WIDE_LATENT, f"model.autoencoder={ae_dir}", f"train.output_dir={tmp_path / 's2'}",
                                       "train.max_steps=1", "train.val_every=1000", "train.ckpt_every=1000"])
    model = build_model(build_model_config(stage2.model, stage2.data), stage2.model)
    assert model.autoencoder.config.latent_channels == 8
    assert model.unet.config.in_channels == 16  # noisy mask latent + image latent, 8 channels each
    assert "tau_theta encoder from the autoencoder encoder" in model.init_notes
    result = Stage2Trainer(stage2, resume="none").run()
    assert result["step"] == 1 and result["last_loss"]["loss"] > 0

    # the exported folder carries the wider latent in its config.json, and the engine runs it
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"model_id": "tiny-wide-latent", "license": "CC0", "classes": [
        {"name": "blob", "color": [1, 0, 0]}, {"name": "vessel", "color": [0, 0, 1]}]}))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    overrides = TINY + [WIDE_LATENT, f"model.autoencoder={ae_dir}", f"train.output_dir={tmp_path / 's2'}"]
    export_main([str(empty), *overrides, "--out", str(tmp_path / "model"), "--card", str(card)])
    pipe = SDSegPipeline.from_pretrained(tmp_path / "model", device="cpu")
    assert pipe.config.latent_channels == 8
    assert pipe(torch.zeros(1, 3, 32, 32), seed=0).probabilities.shape == (1, 3, 32, 32)

    mismatched = load_config(None, TINY + [f"model.autoencoder={ae_dir}", f"train.output_dir={tmp_path / 's2b'}"])
    with pytest.raises(TrainingConfigError, match=r"latent_channels: trained 8, this config 4") as info:
        build_model(build_model_config(mismatched.model, mismatched.data), mismatched.model)
    assert str(ae_dir) in str(info.value) and "model.architecture" in str(info.value)


def test_fp16_copy_of_a_stage1_output_starts_stage2_and_scores_like_the_original(wide_stage1, tmp_path, capsys):
    from safetensors.torch import load_file

    from sdseg_training.heldout import main as heldout_main
    from sdseg_training.stage1_copy import FP16_WEIGHTS, main as copy_main

    copy = tmp_path / "copy"
    assert copy_main([str(wide_stage1), str(copy)]) == 0
    assert sorted(p.name for p in copy.iterdir()) == ["autoencoder.fp16.safetensors", "autoencoder.json", "split.json"]
    original = load_file(str(wide_stage1 / "autoencoder.safetensors"))
    halves = load_file(str(copy / FP16_WEIGHTS))
    assert all(halves[k].dtype == torch.float16 and torch.equal(halves[k], original[k].half()) for k in original)
    assert copy_main([str(wide_stage1), str(copy)]) == 2 and "exists" in capsys.readouterr().err
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((copy / FP16_WEIGHTS).stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600

    cfg = load_config(None, TINY + [WIDE_LATENT, f"model.autoencoder={copy}", f"train.output_dir={tmp_path / 's2'}"])
    model = build_model(build_model_config(cfg.model, cfg.data), cfg.model)
    assert torch.equal(model.autoencoder.state_dict()["decoder.conv_out.weight"], original["decoder.conv_out.weight"].half().float())

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    scores = {}
    for name, folder in (("fp32", wide_stage1), ("fp16", copy)):
        assert heldout_main(["ae", str(empty), *TINY, WIDE_LATENT, "--stage1", str(folder),
                             "--json", str(tmp_path / f"{name}.json"), "--device", "cpu"]) == 0
        scores[name] = json.loads((tmp_path / f"{name}.json").read_text())["test"]["dice_mean"]
    assert scores["fp16"] == pytest.approx(scores["fp32"], abs=0.02)


def test_warm_start_from_an_engine_model_folder_with_another_autoencoder(wide_stage1, tmp_path):
    """model.unet_init and model.condition_encoder_init take an exported model folder: the UNet carries over
    to a run whose latent grid differs, tau_theta to a run with the same encoder; mismatches name the fields."""
    from safetensors.torch import load_file

    base = TINY + [WIDE_LATENT, f"model.autoencoder={wide_stage1}", f"train.output_dir={tmp_path / 's2'}",
                   "train.max_steps=1", "train.val_every=1000", "train.ckpt_every=1000"]
    Stage2Trainer(load_config(None, base), resume="none").run()
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"model_id": "tiny-source", "license": "CC0", "classes": [
        {"name": "blob", "color": [1, 0, 0]}, {"name": "vessel", "color": [0, 0, 1]}]}))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    export_main([str(empty), *base, "--out", str(tmp_path / "model"), "--card", str(card)])
    exported = load_file(str(next((tmp_path / "model").glob("unet*.safetensors"))))

    wide_factor_4 = ("model.architecture={autoencoder: {latent_channels: 8, block_out_channels: [8, 8, 8]}, "
                     "condition_encoder: {block_out_channels: [8, 8, 8]}}")
    warm = load_config(None, TINY + [wide_factor_4, "model.autoencoder=random", "model.condition_encoder_init=null",
                                     f"model.unet_init={tmp_path / 'model'}"])
    model = build_model(build_model_config(warm.model, warm.data), warm.model)
    assert any(note.startswith("unet from the model folder") for note in model.init_notes)
    unet = model.unet.state_dict()
    assert all(torch.equal(unet[k], v.float()) for k, v in exported.items())
    assert model.config.latent_size == 8  # the factor-4 grid of this run, not the source's 16 x 16

    # tau_theta too, when the run keeps the folder's encoder architecture
    both = load_config(None, TINY + [WIDE_LATENT, "model.autoencoder=random", f"model.unet_init={tmp_path / 'model'}",
                                     f"model.condition_encoder_init={tmp_path / 'model'}"])
    model = build_model(build_model_config(both.model, both.data), both.model)
    exported_tau = load_file(str(next((tmp_path / "model").glob("condition_encoder*.safetensors"))))
    assert all(torch.equal(model.condition_encoder.state_dict()[k], v.float()) for k, v in exported_tau.items())
    mismatched_tau = load_config(None, TINY + [wide_factor_4, "model.autoencoder=random",
                                               f"model.condition_encoder_init={tmp_path / 'model'}"])
    with pytest.raises(TrainingConfigError, match=r"model.condition_encoder_init: the condition_encoder of .*block_out_channels"):
        build_model(build_model_config(mismatched_tau.model, mismatched_tau.data), mismatched_tau.model)

    other_classes = load_config(None, TINY + [WIDE_LATENT, "model.num_classes=4", "model.autoencoder=random",
                                              f"model.unet_init={tmp_path / 'model'}"])
    with pytest.raises(TrainingConfigError, match=r"num_classes: 3 there, 4 here") as info:
        build_model(build_model_config(other_classes.model, other_classes.data), other_classes.model)
    assert str(tmp_path / "model") in str(info.value) and "model.unet_init" in str(info.value)
