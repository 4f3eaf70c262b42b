"""A killed official checkpoint import leaves its staging folder; the next import of that output removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.model_folder import verify_model_folder

from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state

pytestmark = pytest.mark.skipif(os.name == "nt", reason="staging folders are cleared only where files can be locked")

REPO = Path(__file__).resolve().parents[2]

# The child stops or kills itself once the staging folder is fully written, just before the rename into place.
_CHILD = r"""
import os, signal, sys
from SDSegLogic.importers import import_official_checkpoint
from engine_test_helpers import tiny_card, tiny_config
ckpt, out, how = sys.argv[1], sys.argv[2], sys.argv[3]
def stop_at_rename(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "move_folder_into_place":
        sys.setprofile(None)
        os.kill(os.getpid(), signal.SIGKILL if how == "kill" else signal.SIGSTOP)
if how != "plain":
    sys.setprofile(stop_at_rename)
import_official_checkpoint(ckpt, out, card=tiny_card(), config=tiny_config(), overwrite=True)
"""


def _child(ckpt: Path, out: Path, how: str) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "training"), str(Path(__file__).resolve().parent),
                                         env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(ckpt), str(out), how], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _staging(out: Path) -> list:
    """Names of the staging folders ``.<name>.staging-<8 characters>`` beside ``out``."""
    prefix = f".{out.name}.staging-"
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(prefix) and len(p.name) == len(prefix) + 8)


@pytest.fixture()
def checkpoint(tmp_path):
    ckpt = tmp_path / "sdseg.ckpt"
    torch.save({"state_dict": _official_state(tiny_model(seed=0))}, ckpt)
    return ckpt


def test_next_import_removes_the_staging_folder_of_a_killed_import(tmp_path, checkpoint):
    out = tmp_path / "models" / "model"
    killed = _child(checkpoint, out, "kill")
    killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL
    left = _staging(out)
    assert len(left) == 1 and not out.exists(), left  # what the killed import leaves: a complete model, hidden
    other_output = out.parent / ".other.staging-abcdefgh"  # another output's staging: not this import's debris
    other_output.mkdir()
    users = out.parent / ".model.settings"  # a user's hidden folder beside the model: never removed
    users.mkdir()
    (users / "keep.txt").write_text("kept")
    outside = tmp_path / "kept"
    outside.mkdir()
    (outside / "file.txt").write_text("kept")
    (out.parent / ".model.staging-zzzzzzzz").symlink_to(outside, target_is_directory=True)  # never followed
    report = import_official_checkpoint(checkpoint, out, card=tiny_card(), config=tiny_config())
    assert verify_model_folder(report.folder) == []
    assert not (out.parent / left[0]).exists()
    assert other_output.is_dir() and (outside / "file.txt").read_text() == "kept"
    assert (users / "keep.txt").read_text() == "kept"
    assert (out.parent / ".model.staging-zzzzzzzz").is_symlink()
    assert sorted(p.name for p in out.parent.iterdir()) == [".model.settings", ".model.staging-zzzzzzzz",
                                                             ".other.staging-abcdefgh", "model"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the stopped child is seen through Linux /proc")
def test_a_live_import_keeps_its_staging_folder_while_another_import_of_that_output_starts(tmp_path, checkpoint):
    out = tmp_path / "model"
    first = _child(checkpoint, out, "stop")
    try:
        deadline = time.monotonic() + 300
        while not _staging(out) or _proc_state(first.pid) != "T":  # stopped just before its rename
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-2000:]
            time.sleep(0.05)
        held = _staging(out)
        second = _child(checkpoint, out, "plain")
        time.sleep(3.0)  # time enough to import a tiny model; the second import waits for the first instead
        assert second.poll() is None and held[0] in _staging(out)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    first_err = first.communicate(timeout=600)[1]
    second_err = second.communicate(timeout=600)[1]
    assert first.returncode == 0, first_err[-3000:]
    assert second.returncode == 0, second_err[-3000:]
    assert verify_model_folder(out) == [] and _staging(out) == []


def _proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]
