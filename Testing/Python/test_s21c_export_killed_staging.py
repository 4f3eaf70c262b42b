"""A killed ``sdseg-export`` leaves ``.<out>.export-<8>`` beside the destination; the next export of it removes it.

The export staged in ``tempfile.mkdtemp(prefix=".<name>.export-")`` outside the destination's write lock, a
name no cleanup recognised: a killed export (SIGKILL, out of memory) left a hidden folder as large as the
model for ever, and every later export left it too. The staging names are now one rule
(:mod:`SDSegLogic.staging_names`) and the export holds the destination's write lock, under which the
staging folders of killed writers of that destination are removed; a user's hidden siblings stay.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))
REPO = Path(__file__).resolve().parents[2]

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

from SDSegLogic.model_folder import verify_model_folder  # noqa: E402

pytestmark = pytest.mark.skipif(os.name == "nt", reason="staging folders are cleared only where files can be locked")

COMMON = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=phantom2d", "data.size=32",
          "data.phantom_cases=8", "train.batch_size=4", "train.val_every=2", "train.ckpt_every=2", "train.log_every=1",
          "optim.warmup_steps=1", "train.max_steps=2"]

# The child kills itself once the export's staging folder holds the whole model, before it is loaded back.
_CHILD = r"""
import json, os, signal, sys
from sdseg_training.cli import export_main
argv = json.loads(sys.argv[1])
def kill_at_smoke_load(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "_smoke_load":
        sys.setprofile(None)
        os.kill(os.getpid(), signal.SIGKILL)
sys.setprofile(kill_at_smoke_load)
export_main(argv)
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("s21c_export")
    train_autoencoder(load_config(None, COMMON + [f"autoencoder.output_dir={root / 'ae'}", "autoencoder.max_steps=2",
                                                  "autoencoder.val_every=2", "autoencoder.batch_size=4",
                                                  f"train.output_dir={root / 'ae_split'}", "model.autoencoder=null"]),
                      log=lambda *_: None)
    args = COMMON + [f"model.autoencoder={root / 'ae'}", f"train.output_dir={root / 's2'}"]
    Stage2Trainer(load_config(None, args)).run()
    empty = root / "empty.yaml"
    empty.write_text("")
    return [str(empty), *args]


def _export_staging(out: Path) -> list:
    """Names ``.<name>.export-<8 characters>`` beside ``out`` (as ``tempfile.mkdtemp`` makes them)."""
    pattern = re.compile(re.escape(f".{out.name}.export-") + r"[a-z0-9_]{8}")
    return sorted(p.name for p in out.parent.iterdir() if pattern.fullmatch(p.name))


def test_the_next_export_removes_what_a_killed_export_left(run, tmp_path):
    out = tmp_path / "models" / "model"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TRAINING), env.get("PYTHONPATH", "")])
    child = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([*run, "--out", str(out)])], env=env,
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    left = _export_staging(out)
    assert len(left) == 1 and not out.exists(), left  # the killed export's whole model, hidden
    users = [out.parent / ".model.settings", out.parent / ".model.export-notes", out.parent / ".other.export-abcdefgh"]
    for folder in users:  # a user's hidden siblings and another destination's staging: never removed
        folder.mkdir()
        (folder / "keep.txt").write_text("kept")
    export_main([*run, "--out", str(out)])
    assert verify_model_folder(out) == []
    assert _export_staging(out) == [], "the staging folder of the killed export was not removed"
    assert all((folder / "keep.txt").read_text() == "kept" for folder in users)


def test_a_staging_name_is_only_a_prefix_and_the_random_part(tmp_path):
    from SDSegLogic.staging_names import is_staging_name, remove_staging

    prefix = ".model.export-"
    assert is_staging_name(".model.export-a1b2_c3d", [prefix])
    for name in (".model.export-notes", ".model.export-a1b2c3d4e", ".model.export-A1B2C3D4", "x.model.export-a1b2c3d4"):
        assert not is_staging_name(name, [prefix]), name
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("kept")
    (tmp_path / ".model.export-linklink").symlink_to(outside, target_is_directory=True)
    (tmp_path / ".model.export-filefile").write_text("a file")
    (tmp_path / ".model.export-realreal").mkdir()
    assert [p.name for p in remove_staging(tmp_path, [prefix])] == [".model.export-realreal"]
    assert (outside / "f.txt").is_file() and (tmp_path / ".model.export-filefile").is_file()
