"""``heldout eval`` reports when the stage-1 autoencoder saw the test cases, or that it could not check.

Stage 1 drawn with no test split trains (or validates) its autoencoder on every case, the stage-2
test cases included; ``sdseg-eval`` and ``experiments`` warn that the test scores are then
optimistic. ``heldout eval`` scores the exported folder on the same test split and must say the same,
or say plainly that it could not compare the splits.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.heldout import main as heldout_main  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

BASE = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=phantom2d", "data.size=32",
        "data.phantom_cases=8", "data.val_fraction=0.25", "train.batch_size=2", "train.max_steps=1", "train.val_every=1",
        "train.ckpt_every=1", "optim.warmup_steps=1"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Stage 1 without a test split (it trains on the stage-2 test cases), stage 2 with one, exported."""
    root = tmp_path_factory.mktemp("overlap")
    stage1 = root / "ae"
    train_autoencoder(load_config(None, BASE + ["data.test_fraction=0", f"autoencoder.output_dir={stage1}",
                                                "autoencoder.max_steps=1", "autoencoder.val_every=1",
                                                "autoencoder.batch_size=2", f"train.output_dir={root / 'unused'}"]),
                      log=lambda *_: None)
    args = BASE + ["data.test_fraction=0.25", f"train.output_dir={root / 's2'}", f"model.autoencoder={stage1}"]
    with pytest.warns(UserWarning, match="optimistic"):  # stage 2 itself says so when it starts
        Stage2Trainer(load_config(None, args), resume="none").run()
    config = root / "run.yaml"
    config.write_text("")
    assert export_main([str(config), *args, "--out", str(root / "model")]) == 0
    return root, config, args


def _eval(root: Path, config: Path, args: list, name: str) -> dict:
    assert heldout_main(["eval", str(config), *args, "--model", str(root / "model"), "--json", str(root / f"{name}.json"),
                         "--device", "cpu"]) == 0
    return json.loads((root / f"{name}.json").read_text())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_heldout_eval_warns_when_stage1_trained_on_its_test_cases(exported, capsys):
    root, config, args = exported
    split = json.loads((root / "s2" / "split.json").read_text())
    held = _eval(root, config, args, "leak")
    out = capsys.readouterr()
    text = " ".join(held.get("warnings", []))
    assert "optimistic" in text and split["test"][0] in text, held.get("warnings")
    assert split["test"][0] in out.out + out.err  # said where the scores are printed, not only in the JSON


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_heldout_eval_says_plainly_when_it_cannot_check_stage1(exported, capsys):
    root, config, args = exported
    bare = root / "ae-without-split"
    shutil.copytree(root / "ae", bare)
    (bare / "split.json").unlink()  # e.g. weights copied without their split: nothing to compare
    held = _eval(root, config, [*args, f"model.autoencoder={bare}"], "unchecked")
    out = capsys.readouterr()
    text = " ".join(held.get("warnings", []))
    assert "could not check" in text and str(bare) in text, held.get("warnings")
    assert "could not check" in out.out + out.err
