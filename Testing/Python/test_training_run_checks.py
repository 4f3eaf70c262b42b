"""A config that no longer fits its run: changed classes or model shape on resume, classes implied by the
data on eval/export, a replaced autoencoder on resume; and sdseg-eval overrides after --steps/--samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training import cli  # noqa: E402
from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import ResumeError  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_cli import _error_line, empty  # noqa: E402,F401 - empty is a pytest fixture

PHANTOM = ["model.preset=tiny", "model.condition_encoder_init=autoencoder", "data.kind=phantom2d", "data.size=32",
           "data.phantom_cases=10", "data.multiclass=true", "model.num_classes=3", "train.batch_size=4",
           "train.val_every=2", "train.ckpt_every=2", "train.log_every=1", "optim.warmup_steps=1", "train.max_steps=2"]
TWO = "data.classes=[{name: liver, labels: [1]}, {name: spleen, labels: [2]}]"
THREE = "data.classes=[{name: liver, labels: [1]}, {name: spleen, labels: [2]}, {name: kidney, labels: [3]}]"


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory):
    """A tiny stage-1 autoencoder and a 2-step multi-class stage-2 run on the phantom (classes implied by the data)."""
    return train_phantom(tmp_path_factory.mktemp("checks"), PHANTOM)


def train_phantom(root: Path, phantom: list):
    """A 2-step stage-1 autoencoder in ``root/ae``, then the stage-2 run ``phantom`` in ``root/s2``.

    Returns:
        ``(root, base)``: ``base`` is ``phantom`` with both output folders set.
    """
    base = phantom + [f"autoencoder.output_dir={root / 'ae'}", f"train.output_dir={root / 's2'}"]
    train_autoencoder(load_config(None, base + ["autoencoder.max_steps=2", "autoencoder.val_every=2",
                                                "autoencoder.batch_size=4"]), log=lambda *_: None)
    Stage2Trainer(load_config(None, base), resume="none").run()
    return root, base


def _label_pictures(root: Path) -> Path:
    """8 grey pictures with label masks holding the values 1, 2 and 3."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(root / "images" / f"c{i}.png")
        mask = np.zeros((32, 32), np.uint8)
        mask[2:12, 2:12], mask[14:24, 4:14], mask[20:30, 18:30] = 1, 2, 3
        Image.fromarray(mask).save(root / "masks" / f"c{i}.png")
    return root


@pytest.mark.filterwarnings("ignore:.*not declared in data.classes")
@pytest.mark.parametrize("change, expected", [
    ([THREE, "model.num_classes=4"], ["liver [1], spleen [2]]", "liver [1], spleen [2], kidney [3]]", "model.num_classes=4"]),
    (["data.classes=[{name: liver, labels: [1]}, {name: kidney, labels: [3]}]"], ["spleen [2]", "kidney [3]"]),
    (["model.architecture={unet: {block_out_channels: [8, 24]}}"], ["unet.block_out_channels: [8, 16] in the run, [8, 24] now"]),
])
def test_resume_with_changed_classes_or_shape_is_a_config_error(tmp_path, empty, capsys, change, expected):
    data = _label_pictures(tmp_path / "data")
    run = tmp_path / "run"
    args = [empty, "model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=folder2d",
            f"data.root={data}", "data.size=32", "data.multiclass=true", "model.num_classes=3", TWO,
            "data.val_fraction=0.25", "data.test_fraction=0.25", "train.batch_size=2", "train.max_steps=2",
            "train.ckpt_every=2", "train.val_every=100", f"train.output_dir={run}"]
    assert cli.train_main(args) == 0
    capsys.readouterr()
    assert cli.train_main(args + change + ["train.max_steps=3"]) == cli.EXIT_USAGE == 2
    line = _error_line(capsys)
    assert f"cannot resume {run / 'checkpoints' / 'step-00000002'}" in line
    assert "start a new run folder" in line and "restore" in line and str(run / "checkpoints" / "step-00000002" / "state.json") in line
    for text in expected:
        assert text in line
    assert not (run / "checkpoints" / "step-00000003").exists()


@pytest.mark.parametrize("main, extra", [(cli.eval_main, ["--split", "val"]), (cli.export_main, ["--out", "model"])])
@pytest.mark.parametrize("change, expected", [
    (["model.num_classes=4"], "model.num_classes=4 but the data has 2 foreground class(es)"),
    (["data.multiclass=false", "model.num_classes=null"], "it was trained with multiclass, model.num_classes=3, no data.classes "
                                                          "(the dataset's classes: blob, vessel)"),
])
def test_eval_and_export_check_classes_implied_by_the_data(phantom_run, empty, tmp_path, capsys, main, extra, change, expected):
    root, base = phantom_run
    out = ["--out", str(tmp_path / "model")] if main is cli.export_main else extra
    assert main([empty, *base, *change, *out]) == 2
    line = _error_line(capsys)
    assert expected in line
    assert not (tmp_path / "model").exists()


def test_eval_overrides_after_steps_and_samples_apply_and_are_recorded(phantom_run, empty, tmp_path, capsys):
    root, base = phantom_run
    out = tmp_path / "val.json"
    wrong = [a for a in base if not a.startswith("train.output_dir=")] + [f"train.output_dir={tmp_path / 'nothing'}"]
    argv = [empty, *wrong, "--split", "val", "--steps", "1", "2", f"train.output_dir={root / 's2'}",
            "--samples", "1", "2", "train.num_threads=1", "--json", str(out)]
    assert cli.eval_main(argv) == 0
    result = json.loads(out.read_text())
    assert result["checkpoint"] == str(root / "s2" / "checkpoints" / "best")  # the override after --steps won
    assert result["steps"] == [1, 2] and result["samples"] == [1, 2] and result["seed"] == 0 and result["device"] == "cpu"
    assert result["overrides"][-2:] == [f"train.output_dir={root / 's2'}", "train.num_threads=1"]
    assert set(result["results"]) == {"steps=1", "steps=2", "steps=1,samples=2", "steps=2,samples=2"}
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.eval_main([empty, *base, "--steps", "1", "ten"])
    assert "'ten' is neither a whole number nor a section.key=value override" in capsys.readouterr().err


def test_resume_refuses_a_changed_autoencoder(phantom_run, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    root, base = phantom_run
    other = tmp_path / "ae-changed"
    shutil.copytree(root / "ae", other)
    weights = load_file(str(other / "autoencoder.safetensors"))
    name = sorted(weights)[0]
    weights[name] = weights[name] + torch.full_like(weights[name], 1e-3)
    save_file(weights, str(other / "autoencoder.safetensors"))
    run = tmp_path / "s2"
    shutil.copytree(root / "s2", run)
    cfg = load_config(None, base + [f"model.autoencoder={other}", f"train.output_dir={run}", "train.max_steps=3"])
    with pytest.raises(ResumeError, match=r"is not the frozen autoencoder this run was trained with \(autoencoder sha256 [0-9a-f]{64}"):
        Stage2Trainer(cfg, resume="auto")


def test_a_stage1_autoencoder_that_saw_test_masks_is_named_in_training_and_test_evaluation(phantom_run, empty, tmp_path):
    import shutil
    import warnings

    from sdseg_training.split_leak import autoencoder_test_overlap

    root, base = phantom_run
    run_split = root / "s2" / "split.json"
    assert autoencoder_test_overlap(str(root / "ae"), run_split) is None  # the same data settings: the same split
    leaky = tmp_path / "ae-leaky"
    shutil.copytree(root / "ae", leaky)
    split = json.loads((leaky / "split.json").read_text())
    test_cases = json.loads(run_split.read_text())["test"]
    assert test_cases
    split["train"] += split["test"]  # stage 1 drawn with other settings: it trained on stage 2's test cases
    split["test"] = []
    (leaky / "split.json").write_text(json.dumps(split))
    message = autoencoder_test_overlap(str(leaky), run_split)
    assert message and f"{len(test_cases)} of its test case(s) ({', '.join(sorted(test_cases)[:5])}" in message
    assert "test scores are optimistic" in message and f"data.split_file={run_split}" in message
    with pytest.warns(UserWarning, match="trained or selected on the masks of"):
        Stage2Trainer(load_config(None, base + [f"model.autoencoder={leaky}", f"train.output_dir={tmp_path / 'new'}"]),
                      resume="none")
    out = tmp_path / "test.json"
    with pytest.warns(UserWarning, match="test scores are optimistic"):
        assert cli.eval_main([empty, *base, f"model.autoencoder={leaky}", "--split", "test", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["warnings"] == [message]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the validation split, or the autoencoder of the same split: silent
        assert cli.eval_main([empty, *base, f"model.autoencoder={leaky}", "--split", "val", "--json", str(out)]) == 0
        assert cli.eval_main([empty, *base, "--split", "test", "--json", str(out)]) == 0
    assert "warnings" not in json.loads(out.read_text())
