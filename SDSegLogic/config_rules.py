"""The rules an :class:`~SDSegLogic.config.SDSegConfig` must satisfy: parts that fit together, sane values.

One job: :func:`check_config` raises :class:`~SDSegLogic.errors.ConfigError` naming the first rule a
configuration breaks, the value and the remedy. :meth:`SDSegConfig.validate` calls it on every
construction (``config.json`` read, preset, ``replace``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError
from .json_values import is_finite_number, is_integer

if TYPE_CHECKING:  # pragma: no cover
    from .config import SDSegConfig

__all__ = ["check_config"]


def check_config(config: "SDSegConfig", source: str = "configuration") -> None:
    """Raise :class:`ConfigError` if the parts of ``config`` do not fit together or a value is out of range.

    Args:
        config: the configuration to check.
        source: what it was read from (a ``config.json`` path), the start of every message.
    """
    ae, ce, un = config.autoencoder, config.condition_encoder, config.unet
    for name, chans, groups in (
        ("autoencoder", ae.block_out_channels, ae.norm_num_groups),
        ("condition_encoder", ce.block_out_channels, ce.norm_num_groups),
        ("unet", un.block_out_channels, un.norm_num_groups),
    ):
        if not chans:  # no level at all: the sizes below would come out as fractions and the model not build
            raise ConfigError(f"{source}: {name}.block_out_channels is empty; give the channels of each level "
                              "(at least one), as in config.json of a working model.")
        bad = [c for c in chans if c % groups]
        if bad:
            raise ConfigError(f"{source}: {name} channels {bad} are not divisible by norm_num_groups={groups}.")
    if len(un.attention_levels) != len(un.block_out_channels):
        raise ConfigError(
            f"{source}: unet.attention_levels has {len(un.attention_levels)} entries but "
            f"unet.block_out_channels has {len(un.block_out_channels)}; give one flag per level."
        )
    if 2 ** (len(ce.block_out_channels) - 1) != ae.downsample_factor:
        raise ConfigError(
            f"{source}: the condition encoder downsamples by {2 ** (len(ce.block_out_channels) - 1)} "
            f"but the autoencoder by {ae.downsample_factor}; both latents must share one grid."
        )
    if config.sample_size <= 0 or config.sample_size % config.input_multiple:
        raise ConfigError(
            f"{source}: sample_size {config.sample_size} must be a positive multiple of "
            f"{config.input_multiple} (autoencoder factor {ae.downsample_factor} x UNet factor "
            f"{un.downsample_factor})."
        )
    bad_heads = [c for c in un.block_out_channels if c % un.attention_heads]
    if bad_heads:
        raise ConfigError(
            f"{source}: unet channels {bad_heads} are not divisible by attention_heads="
            f"{un.attention_heads}."
        )
    if un.num_classes is not None and (not is_integer(un.num_classes) or un.num_classes < 3):
        raise ConfigError(  # K = 2 would be one foreground class and its union (class 0): the same mask twice
            f"{source}: unet.num_classes={un.num_classes}; a multi-class model has num_classes = foreground classes "
            "+ 1 >= 3 (class 0 is the union of all foreground), so one foreground class is a binary model: use null."
        )
    fd = config.fast_decoder
    if fd is not None and (len(fd.block_out_channels) != len(ae.block_out_channels) or len(fd.num_blocks) != len(ae.block_out_channels)):
        raise ConfigError(
            f"{source}: fast_decoder needs one entry per autoencoder level ({len(ae.block_out_channels)}) in "
            f"block_out_channels and num_blocks, got {list(fd.block_out_channels)} and {list(fd.num_blocks)}."
        )
    sched = config.schedule
    if sched.beta_schedule not in ("scaled_linear", "linear"):
        raise ConfigError(f"{source}: schedule.beta_schedule {sched.beta_schedule!r} is not supported; use "
                          "'scaled_linear' (LDM's \"linear\") or 'linear'.")
    if not (0.0 <= sched.beta_start < 1.0 and 0.0 <= sched.beta_end < 1.0):  # beyond: alphas <= 0, NaN maps
        raise ConfigError(f"{source}: schedule.beta_start {sched.beta_start} and beta_end {sched.beta_end} are noise "
                          "variances per step and must lie in [0, 1) (0.0015 and 0.0155 in the paper).")
    # every beta 0 (both ends, or beta_start with one timestep): abar_t = 1, z0-hat = z_T, the UNet's eps times 0
    if sched.beta_start == 0 and (sched.beta_end == 0 or sched.num_train_timesteps == 1):
        raise ConfigError(f"{source}: schedule.beta_start {sched.beta_start} and beta_end {sched.beta_end} (over "
                          f"{sched.num_train_timesteps} timestep(s)) add no noise, so every abar_t is 1 and the sampler "
                          "returns its initial noise whatever the image (the network's prediction is multiplied by 0). "
                          "Set them to the schedule the model was trained with (0.0015 and 0.0155 in the paper).")
    for name, rate in (("unet", un.dropout), ("condition_encoder", ce.dropout)):
        if not 0.0 <= rate < 1.0:
            raise ConfigError(f"{source}: {name}.dropout {rate} is a probability and must lie in [0, 1) (0.2 in the paper).")
    if config.schedule.prediction_type != "epsilon":
        raise ConfigError(
            f"{source}: prediction_type {config.schedule.prediction_type!r} is not supported; "
            "SDSeg predicts the noise ('epsilon')."
        )
    if not (is_finite_number(config.scale_factor) and config.scale_factor > 0):
        raise ConfigError(f"{source}: scale_factor must be a finite number > 0, got {config.scale_factor}.")
