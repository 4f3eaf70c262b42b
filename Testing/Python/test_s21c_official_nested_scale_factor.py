"""An official checkpoint whose state dict is nested, or whose scale_factor is a number, is named as such.

``read_state_dict`` reads the top level or ``['state_dict']`` and keeps tensors only, so a checkpoint
saved as ``{"model": {"state_dict": ...}}``, or one whose ``scale_factor`` is a plain float, was refused
with "no 'scale_factor' entry; is this an SDSeg/LDM checkpoint (not a bare UNet)?": the user was told
the file was the wrong kind, not where its weights were or what to do.
"""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.model_folder import verify_model_folder

from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state


@pytest.fixture(scope="module")
def state():
    return _official_state(tiny_model(seed=0))


def _refusal(tmp_path, content) -> str:
    ckpt = tmp_path / "sdseg.ckpt"
    torch.save(content, ckpt)
    with pytest.raises(CheckpointError) as caught:
        import_official_checkpoint(ckpt, tmp_path / "out", card=tiny_card(), config=tiny_config())
    return str(caught.value)


def test_a_nested_state_dict_is_named_with_the_command_that_unnests_it(tmp_path, state):
    text = _refusal(tmp_path, {"model": {"state_dict": state}, "epoch": 3})
    assert "['model']['state_dict']" in text and "not an SDSeg" not in text, text
    fixed = tmp_path / "fixed.ckpt"  # the remedy the message gives
    torch.save(torch.load(tmp_path / "sdseg.ckpt", weights_only=True)["model"]["state_dict"], fixed)
    report = import_official_checkpoint(fixed, tmp_path / "model", card=tiny_card(), config=tiny_config())
    assert verify_model_folder(report.folder) == []


def test_a_scale_factor_stored_as_a_number_is_named_where_it_is(tmp_path, state):
    weights = {k: v for k, v in state.items() if k != "scale_factor"}
    text = _refusal(tmp_path, {"state_dict": weights, "hyper_parameters": {"scale_factor": 0.18215}})
    assert "['hyper_parameters']['scale_factor']" in text and "0.18215" in text and "torch.tensor" in text, text


def test_a_file_without_any_scale_factor_says_where_its_tensors_are(tmp_path, state):
    weights = {k: v for k, v in state.items() if k != "scale_factor"}
    text = _refusal(tmp_path, {"state_dict": weights})
    assert f"['state_dict'] ({len(weights)} tensors)" in text and "no 'scale_factor' anywhere" in text, text
