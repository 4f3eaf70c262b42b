"""The single-step error budget (sdseg_training.single_step_error) on a tiny real stage-2 run."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import mask_pool, train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.evaluate import model_from_checkpoint  # noqa: E402
from sdseg_training.single_step_error import main, single_step_error  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

TINY = ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=10", "data.multiclass=true",
        "model.num_classes=3", "train.batch_size=2", "train.log_every=1", "optim.warmup_steps=1",
        "train.val_every=1000", "train.ckpt_every=1000"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A stage-1 autoencoder (2 steps) and a stage-2 run (2 steps) of the tiny preset, exported."""
    root = tmp_path_factory.mktemp("sse")
    overrides = TINY + [f"autoencoder.output_dir={root / 'ae'}", "autoencoder.max_steps=2", "autoencoder.val_every=2",
                        "autoencoder.batch_size=2", f"train.output_dir={root / 's2'}", "train.max_steps=2"]
    train_autoencoder(load_config(None, overrides + ["model.autoencoder=null"]), log=lambda *_: None)
    overrides.append(f"model.autoencoder={root / 'ae'}")
    Stage2Trainer(load_config(None, overrides), resume="none").run()
    card = root / "card.json"
    card.write_text(json.dumps({"model_id": "tiny-sse", "license": "CC0", "classes": [
        {"name": "blob", "color": [1, 0, 0]}, {"name": "vessel", "color": [0, 0, 1]}]}))
    (root / "empty.yaml").write_text("")
    export_main([str(root / "empty.yaml"), *overrides, "--out", str(root / "model"), "--card", str(card)])
    return root, overrides


def test_latent_error_is_the_noise_error_times_the_schedule_amplification(tiny_run):
    root, overrides = tiny_run
    cfg = load_config(None, overrides)
    model = model_from_checkpoint(cfg, root / "s2" / "checkpoints" / "best")
    info, _, sets = load_data(cfg.data, Path(cfg.train.output_dir), parts=("val",))
    report = single_step_error(model, sets["val"], True, info.class_names, seed=0, batch_size=3)

    s = model.config.schedule
    betas = torch.linspace(s.beta_start**0.5, s.beta_end**0.5, s.num_train_timesteps, dtype=torch.float64) ** 2
    abar = float(torch.prod(1 - betas))
    assert report["timestep"] == s.num_train_timesteps - 1
    assert report["amplification"] == pytest.approx(math.sqrt((1 - abar) / abar), rel=1e-4)
    # z0_hat - z0 = -c1 (eps_hat - eps) exactly, so the latent error is the noise error times c1
    assert report["z0_l1"] == pytest.approx(report["amplification"] * report["eps_l1"], rel=1e-3)
    assert report["num_masks"] == len(mask_pool(sets["val"], True)) == sum(r["num_masks"] for r in report["per_class"].values())
    assert set(report["per_class"]) <= {"union", *info.class_names} and "union" in report["per_class"]
    assert 0.0 < report["lowpass_share"] <= 1.0 and 0.0 <= report["dice"] <= 1.0 and report["eps_l1"] > 0
    again = single_step_error(model, sets["val"], True, info.class_names, seed=0, batch_size=16)
    assert again["eps_l1"] == pytest.approx(report["eps_l1"], rel=1e-5)  # batching does not change the numbers


def test_cli_reads_an_exported_folder_or_a_checkpoint_and_reports_bad_input(tiny_run, tmp_path, capsys):
    root, overrides = tiny_run
    empty = root / "empty.yaml"
    assert main([str(empty), *overrides, "--model", str(root / "model"), "--json", str(tmp_path / "folder.json")]) == 0
    assert main([str(empty), *overrides, "--checkpoint", str(root / "s2" / "checkpoints" / "best"),
                 "--json", str(tmp_path / "ckpt.json")]) == 0
    folder, ckpt = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("folder", "ckpt"))
    assert "eps_l1" in capsys.readouterr().out
    # the export stores fp16 weights, so the two sources agree closely but not bit for bit
    assert folder["eps_l1"] == pytest.approx(ckpt["eps_l1"], rel=0.05) and folder["num_masks"] == ckpt["num_masks"]

    # a null model.autoencoder is the config's stage-1 output, as in training; with none there, the message names the key
    no_ae = [o for o in overrides if not o.startswith(("model.autoencoder=", "autoencoder.output_dir="))] + [
        "model.autoencoder=null", f"autoencoder.output_dir={tmp_path / 'no-stage1'}"]
    assert main([str(empty), *no_ae, "--checkpoint", str(root / "s2" / "checkpoints" / "best"), "--json", str(tmp_path / "x.json")]) == 2
    assert "model.autoencoder" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
