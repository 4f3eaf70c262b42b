"""``sdseg-eval`` on a run that cannot be scored as asked names the right file and a way on.

A run trained with ``data.split_file`` and no test cases: asking for the test split was refused
naming ``<train.output_dir>/split.json``, a file that does not exist (the split is the
``data.split_file``), with no remedy. A run folder without any checkpoint (stopped before the
first save) was told to "pass --checkpoint latest", which does not exist either.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from training_volume_helpers import two_block_volumes

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import eval_main, export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("SimpleITK")
    root = tmp_path_factory.mktemp("evalsplit")
    data = two_block_volumes(root / "data")
    split_file = root / "my_split.json"
    split_file.write_text(json.dumps({"format": "sdseg-split", "version": 1, "kind": "volumes",
                                      "train": ["case0", "case1", "case2"], "val": ["case3", "case4"], "test": []}))
    base = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=volumes", f"data.root={data}",
            "data.size=32", "data.window=[-100, 100]", f"data.split_file={split_file}",
            "data.classes=[{name: upper, labels: [1]}]", "train.batch_size=2", "optim.warmup_steps=1",
            "autoencoder.batch_size=2", "autoencoder.val_every=100"]
    ae = root / "ae"
    train_autoencoder(load_config(None, base + ["model.autoencoder=null", f"autoencoder.output_dir={ae}",
                                                "autoencoder.max_steps=1"]), log=lambda *_: None)
    args = base + [f"model.autoencoder={ae}", f"train.output_dir={root / 's2'}", "train.max_steps=1",
                   "train.val_every=1", "train.ckpt_every=1"]
    Stage2Trainer(load_config(None, args), resume="none").run()
    config = root / "run.yaml"
    config.write_text("")
    return root, config, args, split_file


def test_an_empty_test_split_names_the_split_file_in_use_and_another_split(run, capsys):
    root, config, args, split_file = run
    assert not (root / "s2" / "split.json").exists()  # the run's split is data.split_file
    assert eval_main([str(config), *args]) != 0
    err = capsys.readouterr().err
    assert str(split_file) in err and str(root / "s2" / "split.json") not in err, err
    assert "--split val" in err, err
    assert eval_main([str(config), "--split", "val", *args]) == 0  # the remedy works


def test_a_run_without_any_checkpoint_is_not_told_to_use_latest(run, capsys):
    root, config, args, _ = run
    empty = root / "s2_empty"
    (empty / "checkpoints").mkdir(parents=True)
    other = [a for a in args if not a.startswith("train.output_dir=")] + [f"train.output_dir={empty}"]
    for main, extra in ((eval_main, []), (export_main, ["--out", str(root / "model")])):
        assert main([str(config), *other, *extra]) != 0
        err = capsys.readouterr().err
        assert "no checkpoint" in err and "--checkpoint latest" not in err, err
        assert str(empty / "checkpoints") in err, err
