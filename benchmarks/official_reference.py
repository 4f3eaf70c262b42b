"""The OFFICIAL SDSeg modules, loaded with an engine model's weights, as a benchmark reference.

The official implementation (https://github.com/lin-tianyu/Stable-Diffusion-Seg) is not part of
this repository and never imported by the engine. For the benchmark its few network modules are
exported into a folder by ``benchmarks/export_official_modules.sh DEST`` and imported from there:

* ``ldm.modules.diffusionmodules.openaimodel.UNetModel``: the denoising UNet;
* ``ldm.modules.diffusionmodules.model.Encoder`` / ``Decoder``: the first stage (with
  ``quant_conv`` / ``post_quant_conv`` named as in ``ldm.models.autoencoder.AutoencoderKL``) and
  the body of the cond stage ``AEEncoderEmbedder`` (``encoder`` + ``out = Conv2d(8, 4, 1)``),
  rebuilt here because its module imports clip and transformers;
* ``ldm.modules.diffusionmodules.util.make_beta_schedule``: the noise schedule.

:func:`build_official_modules` builds them for an :class:`~SDSegLogic.models.SDSegModel`'s
configuration and loads that model's weights into them through the reverse key maps of
:mod:`SDSegLogic.importers.key_maps` (``strict=True``), so both implementations hold the same
weights. :func:`official_reference_loop` then does what the official ``SDSeg.log_dice`` does in
its single-step (``use_direct``) branch: fp32, eager, one slice per call, classes one after the
other, one noise draw shared by every slice.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple

import torch
from torch import nn

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from official_tree import (EXPORT_SCRIPT, OFFICIAL_FILES, OFFICIAL_NORM_GROUPS, OfficialCodeError,  # noqa: E402
                           check_official_tree, groupnorm_groups, import_official, official_commit)

if TYPE_CHECKING:  # pragma: no cover
    from SDSegLogic.config import ScheduleConfig, SDSegConfig
    from SDSegLogic.models import SDSegModel

__all__ = [
    "EXPORT_SCRIPT",
    "OFFICIAL_FILES",
    "OfficialCodeError",
    "OfficialModules",
    "OfficialSchedule",
    "build_official_modules",
    "check_official_tree",
    "official_commit",
    "official_reference_loop",
    "official_schedule",
]

#: Our ``ScheduleConfig.beta_schedule`` -> the official ``make_beta_schedule`` name of the same betas.
_BETA_SCHEDULE_NAMES = {"scaled_linear": "linear", "linear": "sqrt_linear"}


@dataclass
class OfficialSchedule:
    """The two single-step buffers of the official ``register_schedule``.

    Attributes:
        sqrt_recip_alphas_cumprod: (T,) float32, ``sqrt(1 / abar_t)`` computed in float64 numpy
            and cast to float32, as the official buffer is.
        sqrt_recipm1_alphas_cumprod: (T,) float32, ``sqrt(1 / abar_t - 1)``, likewise.
    """

    sqrt_recip_alphas_cumprod: torch.Tensor
    sqrt_recipm1_alphas_cumprod: torch.Tensor

    @property
    def num_timesteps(self) -> int:
        return int(self.sqrt_recip_alphas_cumprod.shape[0])


class OfficialModules(nn.Module):
    """The official networks of one SDSeg model, holding an engine model's weights.

    Attributes:
        unet: official ``UNetModel`` (input ``cat[z_t, z_c]``, 2 x latent channels).
        first_stage: ``encoder``, ``decoder``, ``quant_conv``, ``post_quant_conv`` as in the
            official ``AutoencoderKL`` (only ``post_quant_conv`` and ``decoder`` run at inference).
        cond_stage: ``encoder`` (double_z) and ``out`` (1x1 conv), the body of ``AEEncoderEmbedder``.
        scale_factor: 0-dim float32 buffer, the latent scale s (``decode_first_stage`` uses 1/s * z).
        schedule: the official single-step coefficients (CPU float32).
        num_classes: network classes of a multi-class model, ``None`` for a binary one.
        latent_channels: channels of z (4).
        groupnorm_groups: groups of the (UNet, first stage, cond stage) GroupNorms; values other
            than 32 mean the official constructors were patched in-process (see
            :func:`build_official_modules`).
        ldm_root: folder the official code was imported from.
    """

    def __init__(self, unet: nn.Module, first_stage: nn.Module, cond_stage: nn.Module, scale_factor: float,
                 schedule: OfficialSchedule, num_classes: Optional[int], latent_channels: int,
                 groupnorm_groups: Tuple[int, int, int], ldm_root: Path) -> None:
        super().__init__()
        self.unet = unet
        self.first_stage = first_stage
        self.cond_stage = cond_stage
        self.register_buffer("scale_factor", torch.tensor(scale_factor, dtype=torch.float32))
        self.schedule = schedule
        self.num_classes = num_classes
        self.latent_channels = latent_channels
        self.groupnorm_groups = groupnorm_groups
        self.ldm_root = ldm_root

    @property
    def groupnorm_patched(self) -> bool:
        """True when a GroupNorm group count other than the official 32 had to be patched in."""
        return any(g != OFFICIAL_NORM_GROUPS for g in self.groupnorm_groups)


# ---------------------------------------------------------------------------------------------- build
def _multipliers(channels: Tuple[int, ...], what: str) -> Tuple[int, List[int]]:
    """(base channels, per-level multipliers) of ``channels``; the official code needs integer multiples."""
    base = int(channels[0])
    mult = [int(c) // base for c in channels]
    if any(c % base for c in channels):
        raise OfficialCodeError(
            f"{what} channels {list(channels)} are not integer multiples of the first level ({base}); the official "
            "code describes levels as ch * ch_mult, so this configuration has no official equivalent."
        )
    return base, mult


def official_schedule(schedule: "ScheduleConfig", ldm_root: Path) -> OfficialSchedule:
    """The official single-step buffers for our schedule configuration.

    Args:
        schedule: our schedule (``scaled_linear`` = official ``linear``; ``linear`` = official ``sqrt_linear``).
        ldm_root: exported official tree (its ``make_beta_schedule`` computes the betas).

    Returns:
        :class:`OfficialSchedule` with (T,) float32 CPU tensors.
    """
    import numpy as np

    _, _, ldm_util = import_official(ldm_root)
    name = _BETA_SCHEDULE_NAMES.get(schedule.beta_schedule)
    if name is None:
        raise OfficialCodeError(
            f"beta_schedule {schedule.beta_schedule!r} has no official equivalent; use one of {sorted(_BETA_SCHEDULE_NAMES)}."
        )
    betas = ldm_util.make_beta_schedule(name, schedule.num_train_timesteps, linear_start=schedule.beta_start,
                                        linear_end=schedule.beta_end)
    alphas_cumprod = np.cumprod(1.0 - betas, axis=0)
    return OfficialSchedule(
        sqrt_recip_alphas_cumprod=torch.tensor(np.sqrt(1.0 / alphas_cumprod), dtype=torch.float32),
        sqrt_recipm1_alphas_cumprod=torch.tensor(np.sqrt(1.0 / alphas_cumprod - 1), dtype=torch.float32),
    )


def _ddconfig(config: "SDSegConfig", channels: Tuple[int, ...], layers: int, dropout: float, what: str) -> dict:
    ch, ch_mult = _multipliers(channels, what)
    return dict(double_z=True, z_channels=config.latent_channels, resolution=config.sample_size,
                in_channels=config.autoencoder.in_channels, out_ch=config.autoencoder.in_channels, ch=ch,
                ch_mult=ch_mult, num_res_blocks=layers, attn_resolutions=[], dropout=dropout)


def _load_strict(module: nn.Module, state: dict, what: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise OfficialCodeError(
            f"our {what} weights do not fit the official {what} ({exc}); the configuration and the reverse key maps in "
            "SDSegLogic/importers/key_maps.py disagree."
        ) from None


def build_official_modules(model: "SDSegModel", ldm_root: Path) -> OfficialModules:
    """Build the official networks for ``model``'s configuration and load ``model``'s weights.

    The UNet gets the paper's fixed arguments (``num_heads`` = the config's heads with the
    legacy head layout, ``use_scale_shift_norm=True``, ``resblock_updown=True``); the first
    stage and the cond stage the kl-f8 ``ddconfig`` scaled to the config. Weights are renamed
    with :func:`~SDSegLogic.importers.key_maps.diffusers_unet_to_ldm` and
    :func:`~SDSegLogic.importers.key_maps.diffusers_vae_to_ldm` and loaded with ``strict=True``.

    Args:
        model: engine model whose weights (any dtype, any device) are copied as float32.
        ldm_root: folder written by ``benchmarks/export_official_modules.sh``.

    Returns:
        :class:`OfficialModules` on the CPU, float32, in eval mode.

    Raises:
        OfficialCodeError: the official code is missing or not importable, the configuration
            has no official equivalent, or the weights do not load strictly.
    """
    from SDSegLogic.importers.key_maps import diffusers_unet_to_ldm, diffusers_vae_to_ldm

    root = check_official_tree(ldm_root)
    ldm_openai, ldm_model, ldm_util = import_official(root)
    config = model.config
    un, ae, ce = config.unet, config.autoencoder, config.condition_encoder
    if ae.norm_num_groups != ce.norm_num_groups:
        raise OfficialCodeError(
            f"autoencoder norm_num_groups={ae.norm_num_groups} differs from condition_encoder norm_num_groups="
            f"{ce.norm_num_groups}; the official code uses one Normalize for both, so this has no official equivalent."
        )
    model_channels, channel_mult = _multipliers(un.block_out_channels, "unet")
    latent = config.latent_channels
    with groupnorm_groups(ldm_openai, ldm_model, ldm_util, un.norm_num_groups, ae.norm_num_groups):
        unet = ldm_openai.UNetModel(
            image_size=config.latent_size,
            in_channels=2 * latent,
            out_channels=latent,
            model_channels=model_channels,
            attention_resolutions=[2**level for level, attn in enumerate(un.attention_levels) if attn],
            num_res_blocks=un.layers_per_block,
            channel_mult=channel_mult,
            num_heads=un.attention_heads,
            use_scale_shift_norm=True,
            resblock_updown=True,
            dropout=un.dropout,
            num_classes=un.num_classes,
        )
        first_stage = nn.Module()
        ae_cfg = _ddconfig(config, ae.block_out_channels, ae.layers_per_block, 0.0, "autoencoder")
        first_stage.encoder = ldm_model.Encoder(**ae_cfg)
        first_stage.decoder = ldm_model.Decoder(**ae_cfg)
        first_stage.quant_conv = nn.Conv2d(2 * latent, 2 * latent, 1)
        first_stage.post_quant_conv = nn.Conv2d(latent, latent, 1)
        cond_stage = nn.Module()
        cond_stage.encoder = ldm_model.Encoder(**_ddconfig(config, ce.block_out_channels, ce.layers_per_block, ce.dropout,
                                                           "condition_encoder"))
        cond_stage.out = nn.Conv2d(2 * latent, latent, 1)

    def fp32(state: dict) -> dict:
        return {k: v.detach().to("cpu", torch.float32) for k, v in state.items()}

    _load_strict(unet, fp32(diffusers_unet_to_ldm(model.unet.state_dict(), config)), "UNet")
    _load_strict(first_stage, fp32(diffusers_vae_to_ldm(model.autoencoder.state_dict(), len(ae.block_out_channels))),
                 "first stage (autoencoder)")
    cond = model.condition_encoder.state_dict()
    cond_ldm = diffusers_vae_to_ldm({k: v for k, v in cond.items() if k.startswith("encoder.")}, len(ce.block_out_channels))
    cond_ldm.update({k: v for k, v in cond.items() if k.startswith("out.")})
    _load_strict(cond_stage, fp32(cond_ldm), "cond stage (condition encoder)")
    modules = OfficialModules(
        unet, first_stage, cond_stage, float(config.scale_factor), official_schedule(config.schedule, root),
        un.num_classes, latent, (un.norm_num_groups, ae.norm_num_groups, ce.norm_num_groups), root,
    )
    return modules.float().eval()


# ---------------------------------------------------------------------------------------------- run
def official_reference_loop(modules: OfficialModules, images: torch.Tensor, device: torch.device,
                            schedule: Optional[OfficialSchedule] = None, seed: int = 0) -> torch.Tensor:
    """The official single-step evaluation (``SDSeg.log_dice``, ``use_direct``) over ``images``.

    Per slice, fp32 and eager, batch 1: ``c = cond_stage(x)``; for each class (once for a
    binary model) ``eps = UNet(cat[zT, c], t=T-1, y=class)``,
    ``x0 = sqrt_recip_alphas_cumprod[T-1] * zT - sqrt_recipm1_alphas_cumprod[T-1] * eps``,
    ``x = decoder(post_quant_conv(1/s * x0))``. Binary: ``clamp((x + 1) / 2, 0, 1)`` averaged over
    channels. Multi-class: the raw channel mean per class, class 0 negated, softmax over classes.
    The noise zT is one (1, C, h, w) draw from a CPU ``torch.Generator().manual_seed(seed)``,
    shared by every slice: the draw the engine makes for ``seed`` (and the official loop reuses
    its first noise for every slice).

    Args:
        modules: from :func:`build_official_modules`, already moved to ``device``.
        images: (N, 3, H, W) float32 in [-1, 1].
        device: where the networks run.
        schedule: single-step coefficients; default ``modules.schedule``.
        seed: noise seed.

    Returns:
        (N, H, W) float32 soft maps (binary) or (N, K, H, W) float32 class probabilities, on the CPU.
    """
    schedule = modules.schedule if schedule is None else schedule
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}; stack the slices first.")
    final = schedule.num_timesteps - 1
    final_t = torch.tensor([final], device=device).long()
    c0 = schedule.sqrt_recip_alphas_cumprod.to(device).gather(-1, final_t).reshape(1, 1, 1, 1)
    c1 = schedule.sqrt_recipm1_alphas_cumprod.to(device).gather(-1, final_t).reshape(1, 1, 1, 1)
    noise = None
    maps = []
    with torch.no_grad():
        for image in images:
            x = image[None].float().to(device)
            cond = modules.cond_stage.out(modules.cond_stage.encoder(x))
            if noise is None:
                generator = torch.Generator().manual_seed(int(seed))
                noise = torch.randn((1, modules.latent_channels, *cond.shape[2:]), generator=generator,
                                    dtype=torch.float32).to(device)
            labels = [None] if modules.num_classes is None else list(range(modules.num_classes))
            decoded = []
            for label in labels:
                y = None if label is None else torch.tensor([label], device=device)
                eps = modules.unet(torch.cat([noise, cond], dim=1), final_t, y=y)
                x0 = c0 * noise - c1 * eps
                z = 1.0 / modules.scale_factor * x0
                decoded.append(modules.first_stage.decoder(modules.first_stage.post_quant_conv(z)))
            if modules.num_classes is None:
                maps.append(torch.clamp((decoded[0] + 1.0) / 2.0, min=0.0, max=1.0).mean(dim=1).cpu())
            else:
                out = torch.zeros((*decoded[0].shape[2:], modules.num_classes))
                for k, x_k in enumerate(decoded):
                    if k == 0:
                        x_k = x_k * -1
                    out[:, :, k] = torch.mean(x_k, dim=1)[0]
                maps.append(out.softmax(dim=2).permute(2, 0, 1)[None].contiguous())
    return torch.cat(maps)
