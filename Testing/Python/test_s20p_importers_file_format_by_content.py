"""Checkpoint files are read as what their content is, whatever their name says."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.importers.legacy_files import read_state_dict
from SDSegLogic.model_folder import load_model_folder

from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state


def test_official_checkpoint_in_safetensors_format_named_ckpt_imports(tmp_path):
    """The official keys saved with safetensors under a ``.ckpt`` name (a renamed or converted download)."""
    model = tiny_model(seed=0)
    ckpt = tmp_path / "sdseg.ckpt"
    save_file({k: v.contiguous() for k, v in _official_state(model).items()}, str(ckpt))
    report = import_official_checkpoint(ckpt, tmp_path / "model", card=tiny_card(), config=tiny_config())
    loaded, _ = load_model_folder(report.folder)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_torch_save_file_named_safetensors_is_read(tmp_path):
    """A ``torch.save`` zip given a ``.safetensors`` name is read with torch.load (weights_only), not refused."""
    weights = {"a.weight": torch.arange(6.0).reshape(2, 3), "b.bias": torch.ones(2)}
    path = tmp_path / "weights.safetensors"
    torch.save({"state_dict": weights}, path)
    got = read_state_dict(path)
    assert sorted(got) == sorted(weights) and all(torch.equal(got[k], weights[k]) for k in weights)


def test_unreadable_checkpoint_error_names_the_cause_not_an_unsafe_retry(tmp_path):
    """A corrupt ``.ckpt``: the error quotes the unpickler's complaint, not torch's cut-short "set to False" hint."""
    path = tmp_path / "corrupt.ckpt"
    path.write_bytes(bytes(range(256)) * 20)  # no pickle, no zip, no safetensors
    with pytest.raises(CheckpointError) as caught:
        read_state_dict(path)
    message = str(caught.value)
    assert str(path) in message and "download it again" in message
    assert "weights_only` set to `False" not in message
    assert "operand" in message  # the unpickler's own words: which byte it could not read
