"""A stage-2 run that diverges, resumes with another scale factor, logs without TensorBoard, is evaluated on
other data, or is exported with another config: each says what happens instead of doing it silently."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training import cli  # noqa: E402
from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingDiverged  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_cli import empty  # noqa: E402,F401 - a pytest fixture
from test_training_run_checks import train_phantom  # noqa: E402

PHANTOM = ["model.preset=tiny", "model.condition_encoder_init=autoencoder", "data.kind=phantom2d", "data.size=32",
           "data.phantom_cases=10", "train.batch_size=4", "train.val_every=2", "train.ckpt_every=2", "train.log_every=1",
           "optim.warmup_steps=1", "train.max_steps=2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny stage-1 autoencoder and a 2-step binary stage-2 run on the phantom (checkpoints step-2 and best)."""
    return train_phantom(tmp_path_factory.mktemp("guards"), PHANTOM)


def _copy(run, tmp_path: Path):
    """A copy of the fixture's stage-2 run folder, and the overrides that point at it."""
    root, base = run
    shutil.copytree(root / "s2", tmp_path / "s2")
    return [a for a in base if not a.startswith("train.output_dir=")] + [f"train.output_dir={tmp_path / 's2'}"]


def _finite_checkpoint(folder: Path) -> bool:
    from safetensors.torch import load_file

    tensors = {**load_file(str(folder / "model.safetensors")), **load_file(str(folder / "ema.safetensors"))}
    return all(torch.isfinite(t).all() for t in tensors.values())


def test_a_diverging_run_stops_and_keeps_only_finite_checkpoints(run, tmp_path):
    base = _copy(run, tmp_path)
    checkpoints = tmp_path / "s2" / "checkpoints"
    trainer = Stage2Trainer(load_config(None, base + ["optim.lr=1e30", "train.max_steps=6", "train.keep_checkpoints=1"]),
                            resume="auto")
    with pytest.raises(TrainingDiverged, match=r"weights are NaN or infinite after step \d+ \(they were finite at step") as caught:
        trainer.run()
    assert trainer.step < 6  # stopped, not trained to the end on NaN weights
    assert str(checkpoints / "step-00000002") in str(caught.value)  # the checkpoint to resume from, named
    saved = sorted(p.name for p in checkpoints.iterdir() if not p.name.startswith("."))
    assert saved == ["best", "step-00000002"]  # no NaN checkpoint written, the good one not pruned
    assert all(_finite_checkpoint(checkpoints / name) for name in saved)
    assert json.loads((checkpoints / "best" / "state.json").read_text())["step"] == 2


def test_a_diverging_run_exits_with_the_run_error_code(run, tmp_path, empty, capsys):
    base = _copy(run, tmp_path)
    assert cli.train_main([empty, *base, "optim.lr=1e30", "train.max_steps=4"]) == cli.EXIT_RUN == 4
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("sdseg-train: error: stage 2 diverged") and "optim.lr" in err


def test_resume_says_that_a_given_model_scale_factor_is_ignored(run, tmp_path):
    base = _copy(run, tmp_path)
    recorded = json.loads((tmp_path / "s2" / "checkpoints" / "step-00000002" / "state.json").read_text())["scale_factor"]
    with pytest.warns(UserWarning, match=r"model.scale_factor=0.5 is ignored: .*step-00000002 continues the run with the scale "
                                         r"factor it was trained with"):
        trainer = Stage2Trainer(load_config(None, base + ["model.scale_factor=0.5", "train.max_steps=3"]), resume="auto")
    assert trainer.scale_factor == recorded != 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the run's own value: nothing to say
        Stage2Trainer(load_config(None, base + [f"model.scale_factor={recorded!r}", "train.max_steps=3"]), resume="auto")


def test_training_goes_on_without_tensorboard(run, tmp_path, monkeypatch):
    base = _copy(run, tmp_path)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    trainer = Stage2Trainer(load_config(None, base + ["train.max_steps=4"]), resume="auto")
    with pytest.warns(UserWarning, match="TensorBoard is not installed"):
        result = trainer.run()
    assert result["step"] == 4 and (tmp_path / "s2" / "checkpoints" / "step-00000004" / "state.json").is_file()


def test_eval_on_another_window_or_size_warns_and_records_it(run, tmp_path, empty, capsys):
    root, base = run
    out = tmp_path / "val.json"
    with pytest.warns(UserWarning, match=r"on data other than it was trained on \(data.window: None in the run, \[0.0, 1.0\] now"):
        assert cli.eval_main([empty, *base, "data.window=[0, 1]", "--split", "val", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert any("data.window: None in the run, [0.0, 1.0] now" in w for w in result["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the run's own data: no such warning
        assert cli.eval_main([empty, *base, "--split", "val"]) == 0


def test_export_records_the_runs_loss_weight_and_batch_not_the_export_configs(run, tmp_path):
    root, base = run
    model = tmp_path / "model"
    from sdseg_training.export import export_run

    export_run(load_config(None, base + ["train.lambda_latent=0.25", "train.batch_size=2", "train.grad_accum=3"]), str(model))
    training = json.loads((model / "model_card.json").read_text())["training"]
    assert training["lambda_latent"] == 1.0 and training["global_batch"] == 4


def test_a_diverging_stage1_stops_and_never_saves_nan_weights(tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "ae"
    cfg = load_config(None, PHANTOM + [f"autoencoder.output_dir={out}", "autoencoder.max_steps=6", "autoencoder.val_every=1",
                                       "autoencoder.batch_size=4", "autoencoder.lr=1e30"])
    with pytest.raises(TrainingDiverged, match=r"stage 1 diverged: .*Lower autoencoder.lr"):
        train_autoencoder(cfg, log=lambda *_: None)
    weights = out / "autoencoder.safetensors"
    if weights.is_file():  # saved at a step whose weights were still finite
        assert all(torch.isfinite(t).all() for t in load_file(str(weights)).values())
        assert json.loads((out / "autoencoder.json").read_text())["steps"] < 6
