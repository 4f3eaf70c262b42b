"""Parameter-name maps between the official LDM/SDSeg layout and our diffusers modules.

Both directions are derived from one block walk per architecture, so a map and its inverse can
never disagree. Conventions of the official layout:

* UNet (``openaimodel.UNetModel``): ``input_blocks``/``middle_block``/``output_blocks`` with
  ResBlocks (``in_layers``/``emb_layers``/``out_layers``/``skip_connection``) and legacy
  attention whose fused ``qkv`` 1-D conv interleaves heads: rows are ordered
  (head, {q, k, v}, channel-in-head). Splitting with ``chunk(3)`` would be wrong for 8 heads.
* Autoencoder / vision encoder (``ldm.modules.diffusionmodules.model``): ``down.i.block.j``,
  ``mid.block_1``, ``mid.attn_1`` with 1x1-conv q/k/v, decoder ``up.i`` numbered bottom-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Tuple

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..config import SDSegConfig

__all__ = [
    "unet_block_pairs",
    "ldm_unet_to_diffusers",
    "diffusers_unet_to_ldm",
    "ldm_vae_to_diffusers",
    "diffusers_vae_to_ldm",
]

_RES_PARTS = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}
_VAE_RES_PARTS = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "nin_shortcut": "conv_shortcut"}


def unet_block_pairs(config: "SDSegConfig") -> List[Tuple[str, str, str]]:
    """(official prefix, diffusers prefix, kind) for every block of the UNet of ``config``.

    ``kind`` is ``"res"`` (ResBlock), ``"attn"`` (attention) or ``"plain"`` (renamed as is).
    """
    un = config.unet
    levels = len(un.block_out_channels)
    pairs: List[Tuple[str, str, str]] = [
        ("time_embed.0", "time_embedding.linear_1", "plain"),
        ("time_embed.2", "time_embedding.linear_2", "plain"),
        ("input_blocks.0.0", "conv_in", "plain"),
        ("out.0", "conv_norm_out", "plain"),
        ("out.2", "conv_out", "plain"),
    ]
    if un.num_classes is not None:
        pairs.append(("label_emb", "class_embedding", "plain"))
    index = 1
    for level in range(levels):
        for j in range(un.layers_per_block):
            pairs.append((f"input_blocks.{index}.0", f"down_blocks.{level}.resnets.{j}", "res"))
            if un.attention_levels[level]:
                pairs.append((f"input_blocks.{index}.1", f"down_blocks.{level}.attentions.{j}", "attn"))
            index += 1
        if level != levels - 1:
            pairs.append((f"input_blocks.{index}.0", f"down_blocks.{level}.downsamplers.0", "res"))
            index += 1
    pairs += [
        ("middle_block.0", "mid_block.resnets.0", "res"),
        ("middle_block.1", "mid_block.attentions.0", "attn"),
        ("middle_block.2", "mid_block.resnets.1", "res"),
    ]
    out_index = 0
    for level in reversed(range(levels)):
        up = levels - 1 - level
        for j in range(un.layers_per_block + 1):
            pairs.append((f"output_blocks.{out_index}.0", f"up_blocks.{up}.resnets.{j}", "res"))
            slot = 1
            if un.attention_levels[level]:
                pairs.append((f"output_blocks.{out_index}.1", f"up_blocks.{up}.attentions.{j}", "attn"))
                slot = 2
            if j == un.layers_per_block and level != 0:
                pairs.append((f"output_blocks.{out_index}.{slot}", f"up_blocks.{up}.upsamplers.0", "res"))
            out_index += 1
    return pairs


def ldm_unet_to_diffusers(state: Dict[str, "torch.Tensor"], config: "SDSegConfig") -> Tuple[Dict[str, "torch.Tensor"], List[str]]:
    """Rename an official UNet state dict (prefix already stripped) for ``UNet2DModel``.

    Returns:
        (converted state dict, official keys that were not used).
    """
    heads = config.unet.attention_heads
    out: Dict[str, "torch.Tensor"] = {}
    used = set()
    for src, dst, kind in unet_block_pairs(config):
        for key, value in state.items():
            if not key.startswith(src + "."):
                continue
            rest = key[len(src) + 1 :]
            if kind == "plain":
                out[f"{dst}.{rest}"] = value
            elif kind == "res":
                part, _, leaf = rest.rpartition(".")
                if part not in _RES_PARTS:
                    continue
                out[f"{dst}.{_RES_PARTS[part]}.{leaf}"] = value
            else:  # attention
                part, _, leaf = rest.rpartition(".")
                if part == "norm":
                    out[f"{dst}.group_norm.{leaf}"] = value
                elif part == "proj_out":
                    out[f"{dst}.to_out.0.{leaf}"] = value.reshape(value.shape[0], -1) if leaf == "weight" else value
                elif part == "qkv":
                    q, k, v = _split_legacy_qkv(value, heads)
                    out[f"{dst}.to_q.{leaf}"], out[f"{dst}.to_k.{leaf}"], out[f"{dst}.to_v.{leaf}"] = q, k, v
                else:
                    continue
            used.add(key)
    return out, sorted(set(state) - used)


def diffusers_unet_to_ldm(state: Dict[str, "torch.Tensor"], config: "SDSegConfig") -> Dict[str, "torch.Tensor"]:
    """Inverse of :func:`ldm_unet_to_diffusers` (used to write files in the official layout)."""
    heads = config.unet.attention_heads
    inverse_res = {v: k for k, v in _RES_PARTS.items()}
    out: Dict[str, "torch.Tensor"] = {}
    for src, dst, kind in unet_block_pairs(config):
        if kind == "plain":
            for key, value in state.items():
                if key.startswith(dst + "."):
                    out[f"{src}.{key[len(dst) + 1:]}"] = value
        elif kind == "res":
            for key, value in state.items():
                if key.startswith(dst + "."):
                    part, _, leaf = key[len(dst) + 1 :].rpartition(".")
                    out[f"{src}.{inverse_res[part]}.{leaf}"] = value
        else:
            for leaf in ("weight", "bias"):
                out[f"{src}.norm.{leaf}"] = state[f"{dst}.group_norm.{leaf}"]
                proj = state[f"{dst}.to_out.0.{leaf}"]
                out[f"{src}.proj_out.{leaf}"] = proj[..., None] if leaf == "weight" else proj
                qkv = _join_legacy_qkv(state[f"{dst}.to_q.{leaf}"], state[f"{dst}.to_k.{leaf}"], state[f"{dst}.to_v.{leaf}"], heads)
                out[f"{src}.qkv.{leaf}"] = qkv
    return out


def _split_legacy_qkv(tensor: "torch.Tensor", heads: int):
    """(3C, C, 1) weight or (3C,) bias in (head, qkv, ch) row order -> q, k, v as Linear params."""
    rows = tensor.shape[0]
    channels = rows // 3
    grouped = tensor.reshape(heads, 3, channels // heads, *tensor.shape[1:])
    parts = []
    for i in range(3):
        part = grouped[:, i].reshape(channels, *tensor.shape[1:])
        parts.append(part.reshape(channels, -1) if part.ndim > 1 else part)
    return parts


def _join_legacy_qkv(q: "torch.Tensor", k: "torch.Tensor", v: "torch.Tensor", heads: int) -> "torch.Tensor":
    import torch

    channels = q.shape[0]
    stacked = torch.stack([t.reshape(heads, channels // heads, *t.shape[1:]) for t in (q, k, v)], dim=1)
    joined = stacked.reshape(3 * channels, *q.shape[1:])
    return joined[..., None] if joined.ndim == 2 else joined


def _vae_side_pairs(side: str, levels: int) -> List[Tuple[str, str]]:
    """Block prefix pairs of one side ('encoder' or 'decoder') of a kl autoencoder."""
    pairs = [
        (f"{side}.mid.block_1", f"{side}.mid_block.resnets.0"),
        (f"{side}.mid.block_2", f"{side}.mid_block.resnets.1"),
    ]
    for i in range(levels):
        if side == "encoder":
            pairs.append((f"encoder.down.{i}.block", f"encoder.down_blocks.{i}.resnets"))
            pairs.append((f"encoder.down.{i}.downsample.conv", f"encoder.down_blocks.{i}.downsamplers.0.conv"))
        else:
            pairs.append((f"decoder.up.{i}.block", f"decoder.up_blocks.{levels - 1 - i}.resnets"))
            pairs.append((f"decoder.up.{i}.upsample.conv", f"decoder.up_blocks.{levels - 1 - i}.upsamplers.0.conv"))
    return pairs


def _vae_rename(key: str, levels: int, to_diffusers: bool) -> Tuple[str, bool]:
    """Rename one autoencoder key. Returns (new key, is_attention_conv_weight)."""
    simple = {"norm_out": "conv_norm_out"}
    attn = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
    if not to_diffusers:
        simple = {v: k for k, v in simple.items()}
        attn = {v: k for k, v in attn.items()}
    for side in ("encoder", "decoder"):
        if not key.startswith(side + "."):
            continue
        attn_src, attn_dst = (f"{side}.mid.attn_1.", f"{side}.mid_block.attentions.0.")
        if not to_diffusers:
            attn_src, attn_dst = attn_dst, attn_src
        if key.startswith(attn_src):
            part, _, leaf = key[len(attn_src) :].rpartition(".")
            if part in attn:
                return f"{attn_dst}{attn[part]}.{leaf}", leaf == "weight" and part != ("norm" if to_diffusers else "group_norm")
        for src, dst in _vae_side_pairs(side, levels):
            if not to_diffusers:
                src, dst = dst, src
            if key.startswith(src + "."):
                rest = key[len(src) + 1 :]
                if "resnets" in dst or ".block" in dst:
                    table = _VAE_RES_PARTS if to_diffusers else {v: k for k, v in _VAE_RES_PARTS.items()}
                    index, part, leaf = rest.split(".", 2) if rest.count(".") >= 2 else (None, *rest.split(".", 1))
                    if index is not None and part in table:
                        return f"{dst}.{index}.{table[part]}.{leaf}", False
                return f"{dst}.{rest}", False
        head, _, tail = key[len(side) + 1 :].partition(".")
        if head in simple:
            return f"{side}.{simple[head]}.{tail}", False
    return key, False


def ldm_vae_to_diffusers(state: Dict[str, "torch.Tensor"], levels: int) -> Dict[str, "torch.Tensor"]:
    """Rename an LDM kl autoencoder (or encoder-only) state dict for diffusers modules.

    Keys must be relative to the autoencoder (``encoder.*``, ``decoder.*``, ``quant_conv.*``,
    ``post_quant_conv.*``). Mid-attention 1x1 conv weights become Linear weights.
    """
    out = {}
    for key, value in state.items():
        new, is_attn_conv = _vae_rename(key, levels, to_diffusers=True)
        out[new] = value.reshape(value.shape[0], value.shape[1]) if is_attn_conv and value.ndim == 4 else value
    return out


def diffusers_vae_to_ldm(state: Dict[str, "torch.Tensor"], levels: int) -> Dict[str, "torch.Tensor"]:
    """Inverse of :func:`ldm_vae_to_diffusers`."""
    out = {}
    for key, value in state.items():
        new, is_attn_conv = _vae_rename(key, levels, to_diffusers=False)
        out[new] = value[:, :, None, None] if is_attn_conv and value.ndim == 2 else value
    return out
