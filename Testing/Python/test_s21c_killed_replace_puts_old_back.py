"""A writer killed between its two renames leaves the old model at ``.<name>.old``; the next writer puts it back.

``move_folder_into_place`` renames the old folder aside to ``.<name>.old``, then the new one in. A writer
of a model folder outside the cache (``import_official_checkpoint(..., overwrite=True)``, the training
export, the fast-decoder distillation) killed between the two renames left no model at ``<name>`` and the
old one hidden for ever: the next write saw no folder, wrote a new one and kept the hidden copy; only the
model cache put such a copy back. The folder's write lock now does, when ``<name>`` is missing and the
copy verifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.model_card import ModelCard
from SDSegLogic.model_folder import verify_model_folder

from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state

pytestmark = pytest.mark.skipif(os.name == "nt", reason="left-overs are cleared only where files can be locked")

REPO = Path(__file__).resolve().parents[2]

# Killed just before the second rename of move_folder_into_place (the new folder into place).
_CHILD = r"""
import os, signal, sys
from SDSegLogic.importers import import_official_checkpoint
from engine_test_helpers import tiny_card, tiny_config
ckpt, out = sys.argv[1], sys.argv[2]
renames = []
def kill_at_second_rename(frame, event, arg):
    if event == "c_call" and arg is os.replace and frame.f_code.co_name == "move_folder_into_place":
        renames.append(1)
        if len(renames) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
sys.setprofile(kill_at_second_rename)
import_official_checkpoint(ckpt, out, card=tiny_card().replace(version="2.0.0"), config=tiny_config(), overwrite=True)
"""


def test_the_next_write_puts_back_the_model_a_killed_writer_renamed_aside(tmp_path):
    ckpt = tmp_path / "sdseg.ckpt"
    torch.save({"state_dict": _official_state(tiny_model(seed=0))}, ckpt)
    out = tmp_path / "models" / "model"
    import_official_checkpoint(ckpt, out, card=tiny_card().replace(version="1.0.0"), config=tiny_config())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(Path(__file__).resolve().parent), env.get("PYTHONPATH", "")])
    child = subprocess.run([sys.executable, "-c", _CHILD, str(ckpt), str(out)], env=env, capture_output=True, text=True,
                           timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    aside = out.parent / ".model.old"
    assert aside.is_dir() and not out.exists()  # what the kill leaves: the old model hidden, none in place
    with pytest.raises(CheckpointError, match="already exists"):  # the old model is back: not silently replaced
        import_official_checkpoint(ckpt, out, card=tiny_card().replace(version="3.0.0"), config=tiny_config())
    assert not aside.exists() and verify_model_folder(out) == []
    assert ModelCard.from_json(out / "model_card.json").version == "1.0.0"
