"""A stage-1 warm start (``autoencoder.init``) counts the earlier steps from ``autoencoder.json`` only when that
record names the weights it loads (``weights_sha256``): a record left stale by a crash between writing the weights
and their record must not be added to the new run's ``steps_total``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.modeling import AE_WEIGHTS, read_autoencoder_meta  # noqa: E402
from test_training_run_checks import PHANTOM  # noqa: E402


def _stage1(out: Path, steps: int, *extra: str) -> dict:
    cfg = load_config(None, PHANTOM + [f"autoencoder.output_dir={out}", f"autoencoder.max_steps={steps}",
                                       f"autoencoder.val_every={steps}", "autoencoder.batch_size=4", *extra])
    train_autoencoder(cfg, log=lambda *_: None)
    return read_autoencoder_meta(out)


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """``first`` (4 steps) and ``other`` (2 steps): two stage-1 outputs with different weights."""
    root = tmp_path_factory.mktemp("warm")
    return root, _stage1(root / "first", 4), _stage1(root / "other", 2)


def test_warm_start_from_a_current_record_counts_its_steps(stages):
    root, first, _ = stages
    assert first["steps_total"] == 4
    again = _stage1(root / "again", 2, f"autoencoder.init={root / 'first'}")
    assert again["steps_total"] == 6


def test_warm_start_from_a_stale_record_does_not_count_its_steps(stages, tmp_path):
    root, first, _ = stages
    crashed = tmp_path / "crashed"
    shutil.copytree(root / "first", crashed)  # the record of 4 steps, beside weights it does not describe
    shutil.copyfile(root / "other" / AE_WEIGHTS, crashed / AE_WEIGHTS)
    with pytest.warns(UserWarning, match="describes other weights"):
        warm = _stage1(tmp_path / "warm", 2, f"autoencoder.init={crashed}")
    assert warm["steps"] == 2 and warm["steps_total"] is None, warm


def test_warm_start_from_a_weights_file_checks_the_record_beside_it(stages, tmp_path):
    root, _, _ = stages
    kept = tmp_path / "kept"
    shutil.copytree(root / "first", kept)
    shutil.copyfile(root / "other" / AE_WEIGHTS, kept / "other.safetensors")  # a file the record does not name
    with pytest.warns(UserWarning, match="describes other weights"):
        warm = _stage1(tmp_path / "warm", 2, f"autoencoder.init={kept / 'other.safetensors'}")
    assert warm["steps_total"] is None, warm
