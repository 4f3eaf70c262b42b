"""Stage 1, evaluation, export to an engine folder, and the command-line / Accelerate entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import reconstruction_dice, train_autoencoder  # noqa: E402
from sdseg_training.cli import eval_main, export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

COMMON = ["model.preset=tiny", "model.condition_encoder_init=autoencoder", "data.kind=phantom2d", "data.size=32",
          "data.phantom_cases=10", "data.multiclass=true", "model.num_classes=3", "train.batch_size=4",
          "train.val_every=2", "train.ckpt_every=2", "train.log_every=1", "optim.warmup_steps=1", "train.max_steps=2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny stage-1 autoencoder and a 2-step stage-2 run that uses it."""
    root = tmp_path_factory.mktemp("run")
    ae_dir = root / "ae"
    cfg = load_config(None, COMMON + [f"autoencoder.output_dir={ae_dir}", "autoencoder.max_steps=3", "autoencoder.val_every=3",
                                      "autoencoder.batch_size=4", f"train.output_dir={root / 'ae_split'}", "model.autoencoder=null"])
    metrics = train_autoencoder(cfg, log=lambda *_: None)
    args = COMMON + [f"model.autoencoder={ae_dir}", f"train.output_dir={root / 's2'}"]
    Stage2Trainer(load_config(None, args)).run()
    return root, args, metrics


def test_stage1_writes_weights_and_heldout_dice(trained):
    root, _, metrics = trained
    meta = json.loads((root / "ae" / "autoencoder.json").read_text())
    assert (root / "ae" / "autoencoder.safetensors").is_file()
    assert meta["heldout_reconstruction"]["num_masks"] == metrics["num_masks"] > 0
    assert 0.0 <= metrics["dice_mean"] <= 1.0


def test_reconstruction_dice_of_a_perfect_decoder_is_one():
    """The metric itself: an identity 'autoencoder' scores 1, an inverted one 0 on non-empty masks."""
    from sdseg_training.data.slices import SliceSet

    labels = np.zeros((2, 8, 8), np.uint8)
    labels[0, 2:5, 2:6] = 1
    labels[1, 1:3, 1:3] = 2
    slices = SliceSet(np.zeros((2, 1, 8, 8), np.float16), labels, ["a", "b"], 2, {})

    class Identity(torch.nn.Module):
        def __init__(self, sign: float) -> None:
            super().__init__()
            self.sign = sign

        def encode(self, x):
            return type("E", (), {"latent_dist": type("D", (), {"mode": lambda _s: x})()})()

        def decode(self, z):
            return type("O", (), {"sample": self.sign * z})()

    assert reconstruction_dice(Identity(1.0), slices, multiclass=True)["dice_mean"] == 1.0
    assert reconstruction_dice(Identity(-1.0), slices, multiclass=True)["dice_mean"] == 0.0


def test_eval_and_export_then_the_engine_loads_and_predicts(trained, tmp_path, capsys):
    root, args, _ = trained
    metrics_json = tmp_path / "test.json"
    empty = tmp_path / "empty.yaml"
    empty.write_text("")  # every setting comes from the overrides
    eval_main([str(empty), *args, "--split", "test", "--steps", "1", "2", "--samples", "1", "3", "--json", str(metrics_json)])
    result = json.loads(metrics_json.read_text())
    assert result["step"] == 2
    assert set(result["results"]) == {"steps=1", "steps=2", "steps=1,samples=3", "steps=2,samples=3"}
    for scores in result["results"].values():
        assert set(scores["per_class"]) == {"blob", "vessel"}
        assert 0.0 <= scores["dice"] <= 1.0
    with pytest.raises(SystemExit):
        eval_main([str(empty), *args, "--samples", "0"])
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"model_id": "tiny-phantom", "license": "CC0", "classes": [
        {"name": "blob", "color": [1, 0, 0]}, {"name": "vessel", "color": [0, 0, 1]}]}))
    out = tmp_path / "model"
    export_main([str(empty), *args, "--out", str(out), "--card", str(card), "--metrics", str(metrics_json)])
    from SDSegLogic.pipeline import SDSegPipeline

    pipe = SDSegPipeline.from_pretrained(out, device="cpu")
    assert sorted(p.name for p in out.iterdir()) == ["autoencoder.fp16.safetensors", "condition_encoder.fp16.safetensors",
                                                     "config.json", "model_card.json", "unet.fp16.safetensors"]
    card_data = json.loads((out / "model_card.json").read_text())
    assert card_data["training"]["steps"] == 2 and "test_metrics" in card_data["training"]
    assert [c["label_value"] for c in card_data["classes"]] == [1, 2]
    state = json.loads((root / "s2" / "checkpoints" / "best" / "state.json").read_text())
    assert pipe.config.scale_factor == pytest.approx(state["scale_factor"])
    out_pred = pipe(torch.zeros(2, 3, 32, 32), seed=0)
    assert out_pred.probabilities.shape == (2, 3, 32, 32) and torch.isfinite(out_pred.probabilities).all()


def test_module_entry_point_runs_as_a_single_process(tmp_path):
    """`python -m sdseg_training.train` is what `accelerate launch -m` runs in each process."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {preset: tiny, autoencoder: random, condition_encoder_init: null}\n"
                   "data: {kind: phantom2d, size: 32, phantom_cases: 8}\n"
                   f"train: {{output_dir: {tmp_path / 'run'}, batch_size: 2, max_steps: 1, val_every: 1, ckpt_every: 1}}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TRAINING.parent), str(TRAINING)]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "sdseg_training.train", str(cfg), "train.num_threads=1"],
                          capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout[proc.stdout.index("{"):])["step"] == 1
    assert (tmp_path / "run" / "checkpoints" / "step-00000001" / "state.json").is_file()
