"""The CVC-ClinicDB and Kvasir-SEG configs draw splits of the sizes they (and the official code) name.

``data.val_fraction`` is a share of the non-test cases, so ``0.1`` / ``0.1`` gave Kvasir-SEG 810/90/100
instead of the documented 800/100/100 (official ``ldm/data/kseg.py``: 800/100/100), and CVC-ClinicDB
496/55/61 instead of the official 492/60/60 (``ldm/data/cvc.py``). Real configs, real split drawing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.data.splits import load_or_create_split  # noqa: E402


@pytest.mark.parametrize("name, cases, sizes", [("kvasir", 1000, (800, 100, 100)), ("cvc", 612, (492, 60, 60))])
def test_the_config_draws_the_official_split_sizes(tmp_path, name, cases, sizes):
    data = load_config(str(TRAINING / "configs" / f"{name}.yaml")).data
    ids = [f"case{i:04d}" for i in range(cases)]
    split = load_or_create_split(tmp_path / "split.json", ids, data.kind, default=None, val_fraction=data.val_fraction,
                                 test_fraction=data.test_fraction, seed=data.split_seed, test_cases=data.test_cases)
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == sizes
    assert sorted(split["train"] + split["val"] + split["test"]) == ids  # every case in exactly one part
    written = json.loads((tmp_path / "split.json").read_text())
    assert [len(written[p]) for p in ("train", "val", "test")] == list(sizes)
