"""Import a kl-f8 autoencoder (Stable Diffusion v1 / LDM first stage) for SDSeg."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Union

from ..errors import CheckpointError
from .key_maps import ldm_vae_to_diffusers
from .legacy_files import read_state_dict, strip_prefix

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["load_autoencoder_state"]

#: Full precision first; then the half-precision variant diffusers loads with ``variant="fp16"`` (returned upcast).
_DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin",
                      "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.fp16.bin")
#: Mid-block attention names of diffusers < 0.15 (still in Stable Diffusion v1 ``vae/`` snapshots) -> today's.
_OLD_ATTENTION_NAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def load_autoencoder_state(path: Union[str, Path], levels: Optional[int] = None) -> Dict[str, "torch.Tensor"]:
    """State dict for our ``AutoencoderKL`` from a local kl-f8 autoencoder.

    Accepted inputs (nothing is downloaded):

    * a diffusers folder (``config.json`` + ``diffusion_pytorch_model.safetensors``), e.g. the
      ``vae/`` folder of a Stable Diffusion v1 snapshot, or one holding only the half-precision variant
      (``diffusion_pytorch_model.fp16.safetensors``, returned as float32); mid-block attention weights under the
      names of diffusers < 0.15 (``query``/``key``/``value``/``proj_attn``) are renamed as
      diffusers' own loader renames them;
    * a single original file (``.ckpt``/``.pt``/``.safetensors``) in LDM layout: a first-stage
      checkpoint (``encoder.*``, ``decoder.*``), a full LDM/SD checkpoint (``first_stage_model.*``)
      or an SDSeg checkpoint.

    Args:
        path: folder or file.
        levels: resolution levels of the autoencoder (4 for kl-f8, 3 for kl-f4); default: counted from the
            LDM file's ``encoder.down.<i>`` blocks. The LDM decoder numbers its levels bottom-up, so a
            wrong count would put every decoder block on another level.

    Returns:
        ``{name: tensor}`` in diffusers ``AutoencoderKL`` naming.
    """
    path = Path(path)
    if path.is_dir():
        weights = next((path / n for n in _DIFFUSERS_WEIGHTS if (path / n).is_file()), None)
        if weights is None or not (path / "config.json").is_file():
            raise CheckpointError(
                f"{path}: not a diffusers autoencoder folder (needs config.json and one of {_DIFFUSERS_WEIGHTS})."
            )
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:  # invalid JSON or UTF-8, unreadable
            raise CheckpointError(f"{path / 'config.json'}: cannot be read as JSON ({exc}); restore the diffusers "
                                  "autoencoder folder.") from None
        if not isinstance(config, dict):
            raise CheckpointError(f"{path / 'config.json'}: expected a JSON object, got {type(config).__name__}.")
        if config.get("_class_name") not in (None, "AutoencoderKL"):
            raise CheckpointError(f"{path}/config.json: _class_name is {config.get('_class_name')!r}, expected 'AutoencoderKL'.")
        state = read_state_dict(weights)
        if ".fp16." in weights.name:  # fp16 -> fp32 is exact; the frozen autoencoder then runs in the caller's dtype
            state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        return _current_attention_names(state)
    state = read_state_dict(path)
    for prefix in ("first_stage_model.", "vae.", ""):
        sub = strip_prefix(state, prefix) if prefix else state
        if any(k.startswith("decoder.") for k in sub) and any(k.startswith("encoder.") for k in sub):
            if any(".mid_block." in k for k in sub):
                return _current_attention_names(sub)  # already in diffusers naming
            keep = {k: v for k, v in sub.items() if k.split(".")[0] in ("encoder", "decoder", "quant_conv", "post_quant_conv")}
            return ldm_vae_to_diffusers(keep, _levels(keep, levels, path))
    raise CheckpointError(
        f"{path}: no autoencoder weights found (looked for 'first_stage_model.', 'vae.' or bare 'encoder.'/'decoder.' keys)."
    )


def _levels(state: Dict[str, "torch.Tensor"], given: Optional[int], path: Path) -> int:
    """Resolution levels of an LDM-layout autoencoder: one per ``encoder.down.<i>`` block.

    Raises:
        CheckpointError: ``given`` differs from the file's count (the decoder would load on the wrong levels).
    """
    found = {int(k.split(".")[2]) for k in state if k.startswith("encoder.down.") and k.split(".")[2].isdigit()}
    counted = max(found) + 1 if found else None
    if given is not None and counted is not None and given != counted:
        raise CheckpointError(f"{path}: the autoencoder in this file has {counted} resolution levels "
                              f"(encoder.down.0..{counted - 1}) but {given} were asked for; use a model whose "
                              f"autoencoder.block_out_channels has {counted} entries, or another file.")
    return counted if counted is not None else (given or 4)  # no down block at all: the kl-f8 count


def _current_attention_names(state: Dict[str, "torch.Tensor"]) -> Dict[str, "torch.Tensor"]:
    """Rename old diffusers mid-block attention keys (``...attentions.0.query.weight``) to today's (``to_q``).

    Keys already in today's naming, and every other key, are kept as they are.
    """
    out = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        block, _, part = head.rpartition(".")
        if ".mid_block.attentions." in f".{block}." and part in _OLD_ATTENTION_NAMES:
            key = f"{block}.{_OLD_ATTENTION_NAMES[part]}.{leaf}"
        out[key] = value
    return out
