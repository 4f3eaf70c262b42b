"""A weights file named ``*.SAFETENSORS`` (or ``.SafeTensors``) is read as safetensors.

Windows and some download tools hand out upper-case names. Before, only the exact suffix
``.safetensors`` chose the safetensors reader; ``W.SAFETENSORS`` went to ``torch.load`` and was
refused as "cannot be read safely with torch.load(weights_only=True)", telling the user to re-save
a state_dict that was perfectly readable.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers.legacy_files import read_state_dict


@pytest.mark.parametrize("name", ["weights.SAFETENSORS", "weights.SafeTensors", "weights.safetensors"])
def test_the_suffix_is_recognised_in_any_letter_case(tmp_path, name):
    tensors = {"a.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b.bias": torch.ones(4, dtype=torch.float16)}
    path = tmp_path / name
    save_file(tensors, str(path))
    state = read_state_dict(path)
    assert sorted(state) == sorted(tensors)
    assert all(torch.equal(state[k], tensors[k]) and state[k].dtype == tensors[k].dtype for k in tensors)


def test_a_broken_upper_case_safetensors_file_is_named_as_safetensors(tmp_path):
    path = tmp_path / "weights.SAFETENSORS"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(CheckpointError) as caught:
        read_state_dict(path)
    assert "safetensors" in str(caught.value) and "torch.load" not in str(caught.value)
