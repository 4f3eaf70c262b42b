"""Stage-2 trainer on the tiny preset: the loss falls, resume is exact, checkpoints hold no pickle."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.checkpoint import flatten_optimizer_state, unflatten_optimizer_state  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.ema import EMA  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.losses import sdseg_loss  # noqa: E402
from sdseg_training.trainer import Stage2Trainer, lr_at, record_resolved_config, step_generator  # noqa: E402


def tiny_config(out: Path, *extra: str):
    return load_config(None, [
        "model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null",
        "data.kind=phantom2d", "data.size=32", "data.phantom_cases=12", "data.multiclass=true", "model.num_classes=3",
        f"train.output_dir={out}", "train.batch_size=4", "train.val_every=1000", "train.ckpt_every=2",
        "train.log_every=1", "optim.warmup_steps=2", *extra,
    ])


def test_one_step_lowers_the_loss_on_a_fixed_batch(tmp_path):
    tr = Stage2Trainer(tiny_config(tmp_path, "optim.lr=1e-3", "optim.warmup_steps=0"), resume="none")
    batch = next(tr.batches())
    tr._set_scale_factor(batch)

    def loss() -> float:
        tr.denoiser.eval()  # no dropout: the same t, eps and weights give the same loss
        with torch.no_grad():
            gen = step_generator(0, 0, 0, 0)
            z0 = tr._latents(batch["mask"], gen) * tr.scale_factor
            value = sdseg_loss(tr.denoiser, tr.schedule, z0, batch["image"], batch["class_label"], gen)["loss"].item()
        tr.denoiser.train()
        return value

    before = loss()
    tr.train_step([batch])
    after = loss()
    assert after < before - 1e-4, (before, after)
    assert 0.2 < tr.scale_factor < 20


def test_resume_reproduces_the_next_steps_exactly(tmp_path):
    straight = Stage2Trainer(tiny_config(tmp_path / "a", "train.max_steps=3", "train.grad_accum=2"), resume="none")
    straight.run()
    first = Stage2Trainer(tiny_config(tmp_path / "b", "train.max_steps=2", "train.grad_accum=2"), resume="none")
    first.run()  # validates at its last step too: validation must not disturb the RNG stream
    resumed = Stage2Trainer(tiny_config(tmp_path / "b", "train.max_steps=3", "train.grad_accum=2"), resume="auto")
    assert resumed.step == 2 and resumed.scale_factor == first.scale_factor
    resumed.run()
    a, b = straight.denoiser.state_dict(), resumed.denoiser.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ea, eb = straight.ema.shadow.state_dict(), resumed.ema.shadow.state_dict()
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    # and the weights did move between step 2 and 3 (the comparison is not vacuous)
    assert any(not torch.equal(a[k], first.denoiser.state_dict()[k]) for k in a)
    ck = tmp_path / "b" / "checkpoints" / "step-00000003"
    assert sorted(p.name for p in ck.iterdir()) == ["ema.safetensors", "model.safetensors", "optimizer.safetensors",
                                                     "rng-rank0.safetensors", "state.json"]
    state = json.loads((ck / "state.json").read_text())
    assert state["step"] == 3 and state["micro_batches"] == 6 and state["ema_updates"] == 3
    # the run's record keeps how it began; the resumed invocation's changed settings sit beside it
    record = json.loads((tmp_path / "b" / "config.resolved.json").read_text())
    resumed_record = json.loads((tmp_path / "b" / "config.resumed-at-step-00000002.json").read_text())
    assert record["train"]["max_steps"] == 2 and resumed_record["train"]["max_steps"] == 3
    assert record_resolved_config(tmp_path / "b", record, 4) == []
    assert not (tmp_path / "b" / "config.resumed-at-step-00000004.json").exists()  # unchanged: nothing new
    assert record_resolved_config(tmp_path / "b", {**resumed_record, "seed_note": 1}, 4) == ["seed_note", "train.max_steps"]


def test_optimizer_state_round_trips_through_flat_tensors():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    tensors, meta = flatten_optimizer_state(opt.state_dict())
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    json.dumps(meta)  # scalars are JSON
    rebuilt = unflatten_optimizer_state(tensors, json.loads(json.dumps(meta)))
    opt2 = torch.optim.AdamW(model.parameters(), lr=1e-3)
    opt2.load_state_dict(rebuilt)
    for pid, entry in opt.state_dict()["state"].items():
        for key, value in entry.items():
            assert torch.equal(opt2.state_dict()["state"][pid][key], value)


def test_lr_warmup_and_ema_decay():
    assert lr_at(0, 4e-5, 10000, 1e-6) == pytest.approx(4e-11)
    assert lr_at(5000, 4e-5, 10000, 1e-6) == pytest.approx(2e-5, rel=1e-5)
    assert lr_at(10000, 4e-5, 10000, 1e-6) == 4e-5 == lr_at(50000, 4e-5, 10000, 1e-6)
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, max_decay=0.9999)
    assert ema.decay() == pytest.approx(2 / 11)  # LDM's LitEma counts the update first: n = 1 -> (1 + 1) / (10 + 1)
    before = ema.shadow.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    assert torch.allclose(ema.shadow.weight, 2 / 11 * before + 9 / 11 * net.weight)
    assert ema.decay() == pytest.approx(3 / 12)
    ema.num_updates = 10**7
    assert ema.decay() == 0.9999


def test_lr_scales_with_the_global_batch_and_config_errors(tmp_path):
    tr = Stage2Trainer(tiny_config(tmp_path, "train.batch_size=2", "train.grad_accum=3", "data.flips=false"), resume="none")
    assert tr.base_lr == pytest.approx(1e-5 * 6)
    assert tr.dataset.flips is False  # data.flips reaches the training view
    with pytest.raises(TrainingConfigError, match="unknown keys"):
        tiny_config(tmp_path, "train.max_stepz=3")
    with pytest.raises(TrainingConfigError, match="section.key=value"):
        tiny_config(tmp_path, "max_steps=3")
    assert tiny_config(tmp_path, "optim.lr=2e-4").optim.lr == 2e-4  # YAML 1.1 reads 2e-4 as a string
    with pytest.raises(TrainingConfigError, match="not a number"):
        tiny_config(tmp_path, "optim.lr=fast")


def test_mixed_precision_no_survives_yaml_and_a_slow_cpu_bf16_is_named():
    """YAML 1.1 reads an unquoted ``no`` as False; the config turns it back into the mode "no"."""
    from SDSegLogic.device import cpu_has_native_bf16

    config = load_config(None, ["train.mixed_precision=no", "autoencoder.mixed_precision=no"])
    assert config.train.mixed_precision == "no" and config.autoencoder.mixed_precision == "no"
    assert load_config(None, ["train.mixed_precision=bf16"]).train.mixed_precision == "bf16"
    with pytest.raises(TrainingConfigError, match=r"mixed_precision='fp32' is not one of \['no', 'fp16', 'bf16'\]"):
        load_config(None, ["train.mixed_precision=fp32"])
    from SDSegLogic.device import slow_cpu_bf16_note

    remedy = "set autoencoder.mixed_precision=no on this machine"
    assert slow_cpu_bf16_note(torch.device("cuda"), True, remedy) is None
    assert slow_cpu_bf16_note(torch.device("cpu"), False, remedy) is None
    warning = slow_cpu_bf16_note(torch.device("cpu"), True, remedy)
    assert (warning is None) == cpu_has_native_bf16()
    if warning is not None:
        assert "set autoencoder.mixed_precision=no" in warning


def test_fixed_scale_factor_replaces_the_first_batch_estimate_and_is_checkpointed(tmp_path):
    """model.scale_factor (for warm starts that keep a model folder's autoencoder) skips the estimate."""
    tr = Stage2Trainer(tiny_config(tmp_path, "model.scale_factor=0.37", "train.max_steps=2"), resume="none")
    tr.run()
    assert tr.scale_factor == 0.37 and tr.model.config.scale_factor == 0.37
    assert json.loads((tmp_path / "checkpoints" / "best" / "state.json").read_text())["scale_factor"] == 0.37
    estimated = Stage2Trainer(tiny_config(tmp_path / "b", "train.max_steps=1"), resume="none")
    estimated.run()
    assert estimated.scale_factor != 0.37 and 0.2 < estimated.scale_factor < 20
    with pytest.raises(TrainingConfigError, match="scale_factor=-1.0 must be a positive number"):
        tiny_config(tmp_path, "model.scale_factor=-1.0")


@pytest.mark.parametrize("unet_autocast,dtype", [(False, torch.float32), (True, torch.bfloat16)])
def test_unet_precision_under_bf16_autocast(unet_autocast, dtype):
    from SDSegLogic.config import preset
    from SDSegLogic.models.sdseg_model import SDSegModel
    from sdseg_training.trainer import Denoiser

    model = SDSegModel(preset("tiny"))
    den = Denoiser(model.condition_encoder, model.unet, unet_autocast=unet_autocast).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        eps = den(torch.zeros(1, 3, 32, 32), torch.randn(1, 4, 16, 16), torch.tensor([999]), None)
    assert eps.dtype == dtype and eps.shape == (1, 4, 16, 16)
