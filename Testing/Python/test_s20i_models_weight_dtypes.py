"""A model folder whose weights are stored as 8-bit floats is refused, not silently upcast and run.

An F8_E4M3 tensor keeps 3 mantissa bits; ``safetensors`` loads it and the model's ``.to(float32)`` upcast it
without a word, so such a folder loaded, verified and imported, and segmented with weights rounded by up
to 1/16 of their value. The refusal names the file, the tensor and its dtype.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from cli_test_helpers import zip_folder
from safetensors.torch import load_file, save_file

from SDSegLogic.errors import WeightsMismatchError
from SDSegLogic.model_folder import load_model_folder, sha256_file
from SDSegLogic.model_zip import import_zip
from SDSegLogic.registry import Registry
from SDSegLogic.weight_shapes import check_folder_shapes
from test_registry import home, tiny_folder  # noqa: F401 - pytest fixtures

pytestmark = pytest.mark.skipif(not hasattr(torch, "float8_e4m3fn"), reason="torch without 8-bit floats")


def _with_unet_as(folder, target, dtype):
    """A copy of ``folder`` whose unet file holds its tensors cast to ``dtype``, the card's sha256 updated."""
    shutil.copytree(folder, target)
    weights = target / "unet.safetensors"
    save_file({k: v.to(dtype) for k, v in load_file(str(weights)).items()}, str(weights))
    card = json.loads((target / "model_card.json").read_text(encoding="utf-8"))
    card["weights"]["unet.safetensors"] = sha256_file(weights)
    (target / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    return target


def test_an_8_bit_float_weight_file_is_refused_by_load_naming_file_tensor_and_dtype(tiny_folder, tmp_path):
    folder = _with_unet_as(tiny_folder, tmp_path / "tiny-test", torch.float8_e4m3fn)
    with pytest.raises(WeightsMismatchError) as caught:
        load_model_folder(folder)
    text = str(caught.value)
    assert "unet.safetensors" in text and "conv_in.weight: file float8_e4m3fn vs model float32" in text


def test_an_8_bit_float_weight_file_is_refused_by_the_folder_check_and_the_zip_import(tiny_folder, tmp_path, home):
    folder = _with_unet_as(tiny_folder, tmp_path / "tiny-test", torch.float8_e5m2)
    with pytest.raises(WeightsMismatchError, match=r"'conv_in.weight' is stored as F8_E5M2"):
        check_folder_shapes(folder)
    with pytest.raises(WeightsMismatchError, match=r"unet.safetensors: tensor 'conv_in.weight' is stored as F8_E5M2"):
        import_zip(zip_folder(folder, tmp_path / "f8.zip"), Registry(), home=home)
    assert not (home / "tiny-test").exists()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_16_bit_and_wider_float_weights_still_load(tiny_folder, tmp_path, dtype):
    folder = _with_unet_as(tiny_folder, tmp_path / "tiny-test", dtype)
    check_folder_shapes(folder)
    model, _ = load_model_folder(folder)
    assert model.unet.conv_in.weight.dtype == torch.float32
