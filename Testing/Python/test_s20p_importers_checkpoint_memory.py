"""Official checkpoint import: the optimizer states in a Lightning ``.ckpt`` are not read into memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from SDSegLogic.importers.legacy_files import read_state_dict

from engine_test_helpers import tiny_model
from test_importers import _official_state

REPO = Path(__file__).resolve().parents[2]
OPTIMIZER_MB = 96

_CHILD = r"""
import json, sys
import torch
from SDSegLogic.importers import import_official_checkpoint
from engine_test_helpers import tiny_card, tiny_config
def kib(field):  # VmRSS: resident now; VmHWM: the peak since the reset below
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))
ckpt, small, out = sys.argv[1], sys.argv[2], sys.argv[3]
import_official_checkpoint(small, out + "-warm-up", card=tiny_card(), config=tiny_config())  # lazy imports, caches
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")  # the peak restarts from the resident size now (Linux >= 4.0)
before = kib("VmRSS")
import_official_checkpoint(ckpt, out, card=tiny_card(), config=tiny_config())
print(json.dumps({"growth_kib": kib("VmHWM") - before}))
"""


def _env() -> dict:
    env = dict(os.environ)
    paths = [str(REPO), str(REPO / "training"), str(Path(__file__).resolve().parent)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    return env


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak memory is measured through Linux /proc")
def test_optimizer_states_of_a_lightning_checkpoint_are_not_read_into_memory(tmp_path):
    """A 96 MB ``optimizer_states`` tensor beside a tiny state_dict: the import's peak memory grows far less."""
    ckpt = tmp_path / "sdseg.ckpt"
    optimizer = torch.ones(OPTIMIZER_MB * 2**20 // 4, dtype=torch.float32)  # ones: no zero-page tricks anywhere
    torch.save({"state_dict": _official_state(tiny_model(seed=0)), "optimizer_states": [{"state": {0: optimizer}}]}, ckpt)
    del optimizer
    small = tmp_path / "small.ckpt"
    torch.save({"state_dict": _official_state(tiny_model(seed=0))}, small)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(ckpt), str(small), str(tmp_path / "model")], env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    growth_mb = json.loads(done.stdout.strip().splitlines()[-1])["growth_kib"] / 1024
    assert (tmp_path / "model").is_dir()
    assert growth_mb < OPTIMIZER_MB / 2, f"peak memory grew by {growth_mb:.0f} MB for a {OPTIMIZER_MB} MB optimizer state"


def test_legacy_non_zip_checkpoint_is_still_read(tmp_path):
    """A ``.ckpt`` in torch's pre-1.6 pickle format cannot be memory-mapped; it is read whole, as before."""
    ckpt = tmp_path / "old.ckpt"
    weights = {"a.weight": torch.arange(6.0).reshape(2, 3)}
    torch.save({"state_dict": weights}, ckpt, _use_new_zipfile_serialization=False)
    got = read_state_dict(ckpt)
    assert list(got) == ["a.weight"] and torch.equal(got["a.weight"], weights["a.weight"])
