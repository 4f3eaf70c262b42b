"""Audit s18b: CUDA generator order on resume, a learning rate of 0, the resolved resize in the run
records, and ``single_step_error --checkpoint`` with a null ``model.autoencoder``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training import checkpoint  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.data.image_resize import image_resize_of  # noqa: E402
from sdseg_training.errors import ResumeError, TrainingConfigError  # noqa: E402
from sdseg_training.run_record import RECORD_NAME, record_resolved_config  # noqa: E402
from sdseg_training.single_step_error import main as sse_main  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

TINY = ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=8", "train.batch_size=2",
        "train.log_every=1", "optim.warmup_steps=1", "train.val_every=1000", "train.ckpt_every=1000"]


# ---------------------------------------------------------------- 1. CUDA generator states in device order
def test_cuda_states_go_back_in_device_order_with_more_than_ten_gpus():
    saved = {f"torch_cuda_{i}": torch.full((4,), i, dtype=torch.uint8) for i in range(12)}  # as capture_rng names them
    saved["torch_cpu"] = torch.get_rng_state()
    ordered = checkpoint.cuda_rng_states(saved)
    assert [int(s[0]) for s in ordered] == list(range(12))  # device i gets the state captured on device i


def test_cuda_states_with_a_gap_are_refused():
    saved = {"torch_cuda_0": torch.zeros(4, dtype=torch.uint8), "torch_cuda_2": torch.ones(4, dtype=torch.uint8)}
    with pytest.raises(ResumeError, match="torch_cuda_2"):
        checkpoint.cuda_rng_states(saved)
    assert checkpoint.cuda_rng_states({"torch_cpu": torch.get_rng_state()}) == []


# ---------------------------------------------------------------- 2. a learning rate of 0
@pytest.mark.parametrize("overrides,key", [
    (["optim.lr=0"], "optim.lr"),
    (["optim.lr=0.0", "optim.lr_per_sample=1e-5"], "optim.lr"),
    (["optim.lr_per_sample=0"], "optim.lr_per_sample"),
    (["autoencoder.lr=0"], "autoencoder.lr"),
])
def test_a_learning_rate_of_zero_is_refused_naming_the_key(overrides, key):
    with pytest.raises(TrainingConfigError, match=key.replace(".", r"\.")) as err:
        load_config(None, overrides)
    assert "command-line override" in str(err.value) and "0" in str(err.value)


def test_null_lr_uses_lr_per_sample_and_a_positive_lr_is_kept():
    assert load_config(None, ["optim.lr=null"]).optim.lr is None
    assert load_config(None, ["optim.lr=3e-5", "optim.lr_per_sample=0"]).optim.lr == pytest.approx(3e-5)


# ---------------------------------------------------------------- 3 and 4: a tiny run with null autoencoder and resize
@pytest.fixture(scope="module")
def null_run(tmp_path_factory):
    """Stage 1 (2 steps), then stage 2 (2 steps) with model.autoencoder and data.image_resize left null."""
    root = tmp_path_factory.mktemp("s18b")
    overrides = TINY + [f"autoencoder.output_dir={root / 'ae'}", "autoencoder.max_steps=2", "autoencoder.val_every=2",
                        "autoencoder.batch_size=2", f"train.output_dir={root / 's2'}", "train.max_steps=2",
                        "model.autoencoder=null", "data.image_resize=null"]
    train_autoencoder(load_config(None, overrides), log=lambda *_: None)
    Stage2Trainer(load_config(None, overrides), resume="none").run()
    (root / "empty.yaml").write_text("")
    return root, overrides


def test_run_records_name_the_resolved_image_resize(null_run):
    root, overrides = null_run
    expected = image_resize_of(load_config(None, overrides).data)
    record = json.loads((root / "s2" / RECORD_NAME).read_text())
    state = json.loads((root / "s2" / "checkpoints" / "best" / "state.json").read_text())
    assert record["data"]["image_resize"] == expected
    assert state["config"]["data"]["image_resize"] == expected


def test_a_record_written_with_a_null_resize_is_not_a_changed_setting(tmp_path):
    cfg = load_config(None, TINY)
    old = cfg.to_dict()
    (tmp_path / RECORD_NAME).write_text(json.dumps(old))  # a record from before the resize was resolved
    now = json.loads(json.dumps(old))
    now["data"]["image_resize"] = image_resize_of(cfg.data)
    assert record_resolved_config(tmp_path, now, step=5) == []
    now["data"]["image_resize"] = "pillow-bicubic"
    assert record_resolved_config(tmp_path, now, step=5) == ["data.image_resize"]


def test_single_step_error_checkpoint_resolves_a_null_autoencoder_as_the_trainer(null_run, tmp_path, capsys):
    root, overrides = null_run
    out = tmp_path / "sse.json"
    rc = sse_main([str(root / "empty.yaml"), *overrides, "--checkpoint", str(root / "s2" / "checkpoints" / "best"),
                   "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["num_masks"] > 0


def test_single_step_error_checkpoint_without_a_stage1_output_names_the_remedy(null_run, tmp_path, capsys):
    root, overrides = null_run
    elsewhere = [o for o in overrides if not o.startswith("autoencoder.output_dir=")] + [f"autoencoder.output_dir={tmp_path / 'none'}"]
    rc = sse_main([str(root / "empty.yaml"), *elsewhere, "--checkpoint", str(root / "s2" / "checkpoints" / "best"),
                   "--json", str(tmp_path / "x.json")])
    assert rc == 2 and "model.autoencoder" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
