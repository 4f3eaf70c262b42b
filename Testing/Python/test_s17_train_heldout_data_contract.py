"""``heldout eval`` of an exported folder says when the config prepares the data otherwise than the model card
(intensity window, size), as ``sdseg-eval`` does for a checkpoint; the scores are still written."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from training_volume_helpers import write_volume_folder

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.heldout import main as heldout_main  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402


def _volumes(root: Path) -> Path:
    """Five 6-slice CT-like volumes (HU) with a bright ball labelled 1."""
    k, j, i = np.mgrid[:6, :32, :32]

    def case(c: int):
        ball = (k - 3) ** 2 * 9 + (j - 12 - 2 * c) ** 2 + (i - 16) ** 2 < 60
        ct = np.where(ball, 60.0, -40.0).astype(np.float32) + np.random.default_rng(c).normal(0, 10, ball.shape).astype(np.float32)
        return f"case{c}", ct, ball.astype(np.uint8)

    return write_volume_folder(root, (case(c) for c in range(5)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("contract")
    base = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=volumes", f"data.root={_volumes(root / 'data')}",
            "data.size=32", "data.window=[-100, 100]", "data.classes=[{name: ball, labels: [1]}]", "data.val_fraction=0.25",
            "data.test_fraction=0.25", "train.batch_size=4", "train.max_steps=2", "train.val_every=2", "train.ckpt_every=2",
            "optim.warmup_steps=1", f"train.output_dir={root / 's2'}", f"autoencoder.output_dir={root / 'ae'}"]
    train_autoencoder(load_config(None, base + ["model.autoencoder=null", "autoencoder.max_steps=2", "autoencoder.val_every=2",
                                                "autoencoder.batch_size=4"]), log=lambda *_: None)
    args = base + [f"model.autoencoder={root / 'ae'}"]
    Stage2Trainer(load_config(None, args), resume="none").run()
    empty = root / "empty.yaml"
    empty.write_text("")
    assert export_main([str(empty), *args, "--out", str(root / "model")]) == 0
    return root, empty, args


def _heldout(root: Path, empty: Path, args: list, extra: list, name: str) -> dict:
    out = root / f"{name}.json"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert heldout_main(["eval", str(empty), *args, *extra, "--model", str(root / "model"), "--json", str(out),
                             "--device", "cpu"]) == 0
    held = json.loads(out.read_text())
    held["_warned"] = [str(w.message) for w in caught if "prepared otherwise" in str(w.message)]
    return held


@pytest.mark.parametrize("extra, expected", [
    (["data.window=[-1000, 1000]"], "data.window: [-100.0, 100.0] in the model card, [-1000.0, 1000.0] now"),
    (["data.size=64"], "data.size: 32 in the model card (training_size), 64 now"),
])
def test_heldout_eval_names_a_window_or_size_other_than_the_card(exported, extra, expected):
    root, empty, args = exported
    held = _heldout(root, empty, args, extra, "other")
    assert len(held["warnings"]) == 1 and expected in held["warnings"][0]
    assert str(root / "model" / "model_card.json") in held["warnings"][0]
    assert held["_warned"] == held["warnings"]
    assert np.isfinite(held["full"]["dice"])  # still scored, as sdseg-eval does


def test_heldout_eval_on_the_cards_own_data_has_no_warning(exported):
    root, empty, args = exported
    held = _heldout(root, empty, args, [], "own")
    assert "warnings" not in held and held["_warned"] == []
