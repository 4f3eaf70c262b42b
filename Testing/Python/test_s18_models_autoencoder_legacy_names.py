"""kl-f8 autoencoders saved by diffusers before its attention refactor (mid-block query/key/value/proj_attn).

Stable Diffusion v1 ``vae/`` folders written by diffusers < 0.15 (and the hub snapshots never
re-uploaded since) name the mid-block attention ``query``/``key``/``value``/``proj_attn``;
diffusers' own ``AutoencoderKL.from_pretrained`` renames them on load to ``to_q``/``to_k``/
``to_v``/``to_out.0``. :func:`SDSegLogic.importers.load_autoencoder_state` documents the ``vae/``
folder of a Stable Diffusion v1 snapshot as an accepted input, so it must read such a folder into
the same weights diffusers does.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from SDSegLogic.importers import load_autoencoder_state
from SDSegLogic.model_folder import load_state_dict_checked

from engine_test_helpers import tiny_model

_OLD_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def _old_style(state: dict) -> dict:
    """The state dict as diffusers < 0.15 wrote it: mid-block attention projections under their old names."""
    out = {}
    for key, value in state.items():
        for new, old in _OLD_NAMES.items():
            marker = f".mid_block.attentions.0.{new}."
            if marker in key:
                key = key.replace(marker, f".mid_block.attentions.0.{old}.")
        out[key] = value
    return out


def _old_style_folder(tmp_path, weights_name: str = "diffusion_pytorch_model.safetensors"):
    """A diffusers autoencoder folder with old attention names; returns (folder, reference state)."""
    model = tiny_model(seed=3)
    folder = tmp_path / "vae"
    model.autoencoder.save_pretrained(folder, safe_serialization=True)
    written = folder / "diffusion_pytorch_model.safetensors"
    state = load_file(str(written))
    old = _old_style(state)
    assert any(".query." in k for k in old) and not any(".to_q." in k for k in old)  # the fixture is old-style
    written.unlink()
    if weights_name.endswith(".safetensors"):
        save_file(old, str(folder / weights_name))
    else:
        torch.save(old, folder / weights_name)
    return folder, model.autoencoder.state_dict()


def test_old_style_diffusers_folder_loads_as_diffusers_itself_loads_it(tmp_path):
    from diffusers import AutoencoderKL

    folder, reference = _old_style_folder(tmp_path)
    by_diffusers = AutoencoderKL.from_pretrained(folder).state_dict()  # diffusers renames the old keys
    state = load_autoencoder_state(folder, levels=2)
    assert sorted(state) == sorted(by_diffusers)
    assert all(torch.equal(state[k], by_diffusers[k]) for k in by_diffusers)
    target = tiny_model(seed=9).autoencoder
    load_state_dict_checked(target, state, str(folder))  # strict: nothing missing, nothing left over
    assert all(torch.equal(target.state_dict()[k], v) for k, v in reference.items())


@pytest.mark.parametrize("name", ["diffusion_pytorch_model.bin"])
def test_old_style_pickled_diffusers_folder_loads(tmp_path, name):
    folder, reference = _old_style_folder(tmp_path, name)
    state = load_autoencoder_state(folder, levels=2)
    assert sorted(state) == sorted(reference)
    assert all(torch.equal(state[k], v) for k, v in reference.items())


def test_old_style_single_diffusers_file_loads(tmp_path):
    folder, reference = _old_style_folder(tmp_path)
    single = tmp_path / "vae.safetensors"  # the weights file on its own, in diffusers naming
    (folder / "diffusion_pytorch_model.safetensors").rename(single)
    state = load_autoencoder_state(single, levels=2)
    assert sorted(state) == sorted(reference)
    assert all(torch.equal(state[k], v) for k, v in reference.items())
