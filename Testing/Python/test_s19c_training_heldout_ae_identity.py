"""``heldout eval`` says when the config's stage-1 folder is not the autoencoder the export was trained with.

The stage-1 overlap check reads ``split.json`` of the config's stage-1 folder. The exported card
records the fingerprint of the frozen autoencoder (``training.autoencoder_sha256``); when the
folder's weights have another fingerprint (stage 1 trained again, another folder named), the check
was made against another autoencoder and must say so, naming both digests; when the folder kept
the replaced weights, the check uses those.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from safetensors.torch import load_file, save_file  # noqa: E402

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.heldout import main as heldout_main  # noqa: E402
from sdseg_training.modeling import state_fingerprint  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

BASE = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=phantom2d", "data.size=32",
        "data.phantom_cases=8", "data.val_fraction=0.25", "data.test_fraction=0.25", "train.batch_size=2",
        "train.max_steps=1", "train.val_every=1", "train.ckpt_every=1", "optim.warmup_steps=1"]


def _fingerprint(folder: Path) -> str:
    return state_fingerprint({k: v.float() for k, v in load_file(str(folder / "autoencoder.safetensors")).items()})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Stage 1 and stage 2 on the same split, exported; then a second stage-1 folder with other weights."""
    root = tmp_path_factory.mktemp("identity")
    stage1 = root / "ae"
    train_autoencoder(load_config(None, BASE + [f"autoencoder.output_dir={stage1}", "autoencoder.max_steps=1",
                                                "autoencoder.val_every=1", "autoencoder.batch_size=2",
                                                f"train.output_dir={root / 'unused'}"]), log=lambda *_: None)
    args = BASE + [f"train.output_dir={root / 's2'}", f"model.autoencoder={stage1}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Stage2Trainer(load_config(None, args), resume="none").run()
        config = root / "run.yaml"
        config.write_text("")
        assert export_main([str(config), *args, "--out", str(root / "model")]) == 0
    other = root / "ae-other"
    shutil.copytree(stage1, other)  # same split.json, other weights (as if stage 1 were trained again)
    weights = load_file(str(other / "autoencoder.safetensors"))
    save_file({k: v + 0.01 if v.is_floating_point() else v for k, v in weights.items()}, str(other / "autoencoder.safetensors"))
    return root, config, args, stage1, other


def _eval(root: Path, config: Path, args: list, name: str) -> dict:
    assert heldout_main(["eval", str(config), *args, "--model", str(root / "model"), "--json", str(root / f"{name}.json"),
                         "--device", "cpu"]) == 0
    return json.loads((root / f"{name}.json").read_text())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_heldout_eval_names_both_digests_when_stage1_folder_has_other_weights(exported, capsys):
    root, config, args, stage1, other = exported
    card = json.loads((root / "model" / "model_card.json").read_text()) if (root / "model" / "model_card.json").is_file() else None
    held = _eval(root, config, [*args, f"model.autoencoder={other}"], "other")
    out = capsys.readouterr()
    text = " ".join(held.get("warnings", []))
    trained, found = _fingerprint(stage1), _fingerprint(other)
    assert trained != found
    if card is not None:
        assert card["training"]["autoencoder_sha256"] == trained
    assert trained in text and found in text and str(other) in text, held.get("warnings")
    assert found in out.out + out.err  # printed beside the scores, not only in the JSON


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_heldout_eval_is_silent_about_identity_with_the_right_stage1(exported):
    root, config, args, stage1, other = exported
    held = _eval(root, config, args, "same")
    text = " ".join(held.get("warnings", []))
    assert _fingerprint(other) not in text and "another autoencoder" not in text, held.get("warnings")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_heldout_eval_checks_the_kept_copy_when_stage1_was_replaced(exported):
    root, config, args, stage1, other = exported
    replaced = root / "ae-replaced"
    shutil.copytree(other, replaced)  # the folder now holds other weights, and kept the run's under replaced/<sha[:16]>/
    trained = _fingerprint(stage1)
    keep = replaced / "replaced" / trained[:16]
    keep.mkdir(parents=True)
    for name in ("autoencoder.safetensors", "autoencoder.json", "split.json"):
        shutil.copy2(stage1 / name, keep / name)
    held = _eval(root, config, [*args, f"model.autoencoder={replaced}"], "replaced")
    text = " ".join(held.get("warnings", []))
    assert str(keep) in text, held.get("warnings")
