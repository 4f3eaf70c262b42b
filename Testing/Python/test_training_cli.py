"""The training console commands: one-line errors with documented exit codes, run-folder safety, config types."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training import cli  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import DatasetError, TrainingConfigError  # noqa: E402

TINY = ["model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=phantom2d",
        "data.size=32", "data.phantom_cases=12", "data.multiclass=true", "model.num_classes=3", "train.batch_size=4",
        "train.log_every=1", "optim.warmup_steps=1", "train.max_steps=2"]


@pytest.fixture()
def empty(tmp_path) -> str:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    return str(path)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "nothing on stderr"
    assert "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize("main, prog, extra", [
    (cli.train_main, "sdseg-train", []),
    (cli.train_ae_main, "sdseg-train-ae", []),
    (cli.eval_main, "sdseg-eval", ["--split", "val"]),
    (cli.export_main, "sdseg-export", ["--out", "unused"]),
])
def test_config_error_is_one_line_with_exit_code_2(main, prog, extra, empty, capsys):
    assert main([empty, *TINY, "autoencoder.max_steps=ten", *extra]) == cli.EXIT_USAGE == 2
    line = _error_line(capsys)
    assert line.startswith(f"{prog}: error: ") and "max_steps='ten' is not an integer" in line


def test_missing_config_file_and_debug_traceback(tmp_path, capsys):
    assert cli.train_main([str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: config file not found" in _error_line(capsys)
    assert cli.train_main([str(tmp_path / "nope.yaml"), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_overrides_may_follow_the_options(empty, capsys):
    """``sdseg-train c.yaml --resume none train.max_steps=...``: the override is read (here: refused as a type error)."""
    assert cli.train_main([empty, "--resume", "none", *TINY, "train.max_steps=2.5"]) == 2
    assert "max_steps=2.5 is not an integer" in _error_line(capsys)


def test_wrapped_error_shows_the_sdseg_message():
    inner = DatasetError("d/labels/x.nii.gz: label grid differs from image x.nii.gz; resample the labels to the image.")
    try:
        try:
            raise inner
        except DatasetError as exc:
            raise RuntimeError("applying transform <lambda>") from exc
    except RuntimeError as wrapped:
        assert cli.user_error(wrapped) is inner
        assert cli.exit_code_for(wrapped) == cli.EXIT_DATA == 3
    assert cli.exit_code_for(KeyError("x")) == cli.EXIT_UNEXPECTED
    assert cli.exit_code_for(KeyboardInterrupt()) == 130


def test_data_error_read_through_monai_exits_3(tmp_path, empty, capsys):
    from PIL import Image

    root = tmp_path / "d2"
    for i in range(4):
        for sub, shape in (("images", (16, 16, 3)), ("masks", (12, 16) if i == 2 else (16, 16))):
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros(shape, np.uint8)).save(root / sub / f"c{i}.png")
    args = [empty, "model.preset=tiny", "model.autoencoder=random", "data.kind=folder2d", f"data.root={root}", "data.size=16",
            "data.val_fraction=0.25", "data.test_fraction=0.25", "train.max_steps=2", f"train.output_dir={tmp_path / 'run'}"]
    assert cli.train_main(args) == 3
    line = _error_line(capsys)
    assert line.startswith("sdseg-train: error: ") and "c2.png" in line and "differs from image" in line


def test_num_classes_must_fit_the_classes(tmp_path, empty, capsys):
    two = "data.classes=[{name: a, labels: [1]}, {name: b, labels: [2]}]"
    with pytest.raises(TrainingConfigError, match=r"num_classes=2 .* 2 foreground class.*= 3"):
        load_config(None, ["data.multiclass=true", "model.num_classes=2", two])
    with pytest.raises(TrainingConfigError, match=r"data.multiclass is false .* 2 classes"):
        load_config(None, [two])
    with pytest.raises(TrainingConfigError, match=r"num_classes=3 but data.multiclass is false"):
        load_config(None, ["model.num_classes=3"])
    assert load_config(None, ["data.multiclass=true", "model.num_classes=3", two]).model.num_classes == 3
    # the phantom's two default classes are known only once the data is read: the trainer checks them
    assert cli.train_main([empty, *TINY, "model.num_classes=4", "train.max_steps=2",
                           f"train.output_dir={tmp_path / 'run'}"]) == 2
    line = _error_line(capsys)
    assert "model.num_classes=4" in line and "2 foreground class" in line and "= 3" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("override, message", [
    ("autoencoder.max_steps=2.5", "max_steps=2.5 is not an integer"),
    ("autoencoder.max_steps=true", "max_steps=True is not an integer"),
    ("optim.lr=[1]", "lr=[1] is not a number"),
    ("data.window=-100", "window=-100 is not a list of 2 numbers"),
    ("data.window=[275, -125]", "low < high"),
    ("data.size=0", "size=0 must be an integer >= 1"),
    ("data.classes=[1, 2]", "classes[0]=1 is not a mapping"),
    ("data.classes=[{name: a}]", "each class needs exactly the keys name and labels"),
    ("data.classes=[{name: a, label: [1]}]", "unknown: ['label']"),
    ("data.classes=[{name: a, labels: 1}]", "labels=1 is not a non-empty list"),
    ("data.classes=[{name: a, labels: [65536]}]", "65536 is not a label value 1..65535"),
    ("data.test_cases=[1, 2]", "quote case ids"),
    ("train.output_dir=3", "output_dir=3 is not a string"),
])
def test_types_are_checked_with_key_value_and_type(override, message):
    with pytest.raises(TrainingConfigError) as info:
        load_config(None, [override])
    assert message in str(info.value)
    assert override.split("=")[0].split(".")[1] in str(info.value)


def test_integral_numbers_are_integers():
    cfg = load_config(None, ["train.max_steps=1e3", "optim.warmup_steps=1.0e4", "autoencoder.max_steps='20'"])
    assert (cfg.train.max_steps, cfg.optim.warmup_steps, cfg.autoencoder.max_steps) == (1000, 10000, 20)
    assert all(isinstance(v, int) for v in (cfg.train.max_steps, cfg.optim.warmup_steps, cfg.autoencoder.max_steps))


def test_json_results_have_no_nan():
    text = cli._json({"dice": float("nan"), "per_class": {"a": [1.0, float("inf")]}})
    assert json.loads(text) == {"dice": None, "per_class": {"a": [1.0, None]}}
    assert math.isfinite(json.loads(cli._json({"x": 0.5}))["x"])


def _listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def test_resume_none_refuses_a_folder_with_checkpoints(tmp_path, empty, capsys):
    run = tmp_path / "run"
    args = [empty, *TINY, f"train.output_dir={run}", "train.max_steps=2", "train.ckpt_every=2", "train.val_every=2"]
    assert cli.train_main(args + ["--resume", "none"]) == 0
    state = json.loads((run / "checkpoints" / "step-00000002" / "state.json").read_text())
    assert state["history"][-1]["step"] == 2 and state["best"]["step"] == 2  # saved before validation, then updated
    (run / "notes.txt").write_text("mine")
    before = _listing(run)
    capsys.readouterr()
    assert cli.train_main(args + ["train.max_steps=1", "--resume", "none"]) == 4
    line = _error_line(capsys)
    assert str(run) in line and "train.output_dir" in line and "--resume auto" in line and "--overwrite" in line
    assert _listing(run) == before  # nothing deleted or rewritten
    assert cli.train_main(args + ["--overwrite", "--resume", "auto"]) == 4
    assert _listing(run) == before
    assert cli.train_main(args + ["train.max_steps=1", "train.ckpt_every=1", "--overwrite"]) == 0
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best", "step-00000001"]  # the old run's step-2 is gone, not pruned by name
    assert (run / "notes.txt").read_text() == "mine" and (run / "split.json").is_file()
    assert json.loads((run / "config.resolved.json").read_text())["train"]["max_steps"] == 1


def test_a_validation_crash_keeps_the_step_checkpoint(tmp_path, monkeypatch):
    import sdseg_training.evaluate as evaluate
    from sdseg_training.trainer import Stage2Trainer

    def broken(*_args, **_kwargs):
        raise RuntimeError("validation broke")

    monkeypatch.setattr(evaluate, "validate", broken)
    cfg = load_config(None, [*TINY, f"train.output_dir={tmp_path}", "train.max_steps=2", "train.ckpt_every=2", "train.val_every=2"])
    with pytest.raises(RuntimeError, match="validation broke"):
        Stage2Trainer(cfg, resume="none").run()
    assert (tmp_path / "checkpoints" / "step-00000002" / "state.json").is_file()


def test_interrupt_is_one_line_and_130(empty, monkeypatch, capsys):
    import sdseg_training.cli as module

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "load_config", interrupted)
    assert cli.train_ae_main([empty]) == 130
    assert _error_line(capsys) == "sdseg-train-ae: error: interrupted."
    assert os.environ.get("PYTEST_CURRENT_TEST")
