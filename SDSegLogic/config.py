"""Architecture configuration of an SDSeg model, and the named presets.

The configuration holds constructor arguments and nothing else (no weights, no data contract:
that is the model card's job). It is stored as ``config.json`` in a model folder and maps 1:1
onto the three diffusers building blocks built in :mod:`SDSegLogic.models`.

Presets:
    ``paper``: the official SDSeg model (Lin et al., MICCAI 2024): kl-f8 autoencoder
        (83.65 M parameters), a vision encoder of the same architecture as the autoencoder's
        encoder (34.16 M) and the LDM UNet with 8 heads at every level (294.97 M), 256x256 input.
    ``lite``: the same topology scaled down for a CPU demo: 128x128 input, 11.0 M parameters in
        all (22 MB of fp16 weights), about 0.07 s per slice on a 2-core CPU.
    ``tiny``: a 2-level, 8-channel model on 32x32 slices for tests.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Tuple

from .config_rules import check_config
from .errors import ConfigError
from .json_values import is_finite_number, is_integer

__all__ = [
    "AutoencoderConfig",
    "ConditionEncoderConfig",
    "UNetConfig",
    "ScheduleConfig",
    "FastDecoderConfig",
    "SDSegConfig",
    "PRESETS",
    "preset",
    "CONFIG_FORMAT",
    "CONFIG_FORMAT_VERSION",
]

CONFIG_FORMAT = "sdseg-model"
CONFIG_FORMAT_VERSION = 1


@dataclass(frozen=True)
class AutoencoderConfig:
    """Arguments of the diffusers ``AutoencoderKL`` (LDM kl-f8 family).

    Attributes:
        block_out_channels: channels per resolution level; the spatial downsampling factor is
            ``2 ** (len(block_out_channels) - 1)`` (8 for kl-f8).
        layers_per_block: ResNet blocks per encoder level (the decoder has one more).
        latent_channels: channels of the latent z (4 for kl-f8).
        norm_num_groups: GroupNorm groups.
        in_channels: image channels (3: masks are repeated to RGB as in the paper).
    """

    block_out_channels: Tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    latent_channels: int = 4
    norm_num_groups: int = 32
    in_channels: int = 3

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)


@dataclass(frozen=True)
class ConditionEncoderConfig:
    """Vision encoder tau_theta: an autoencoder-style encoder (``double_z``) then a 1x1 conv.

    Attributes:
        block_out_channels: channels per level; must give the autoencoder's downsampling factor.
        layers_per_block: ResNet blocks per level.
        norm_num_groups: GroupNorm groups.
        dropout: dropout probability inside every ResNet block (0.2 in the paper; training only).
        in_channels: image channels fed to the encoder (3).
    """

    block_out_channels: Tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    dropout: float = 0.2
    in_channels: int = 3


@dataclass(frozen=True)
class UNetConfig:
    """The denoising UNet, expressed as a diffusers ``UNet2DModel``.

    Attributes:
        block_out_channels: channels per level (model_channels x channel_mult in LDM terms).
        attention_levels: per level, whether the down/up blocks carry self-attention.
        layers_per_block: ResNet blocks per down level (up levels have one more).
        attention_heads: number of heads in every attention layer (8 in the official model,
            whatever the channel count).
        norm_num_groups: GroupNorm groups (also used inside attention).
        dropout: dropout in ResNet blocks (training only).
        num_classes: class embedding size, foreground classes + 1 >= 3 (multi-class); ``None``: binary.
    """

    block_out_channels: Tuple[int, ...] = (192, 384, 384, 768, 768)
    attention_levels: Tuple[bool, ...] = (True, True, True, True, False)
    layers_per_block: int = 2
    attention_heads: int = 8
    norm_num_groups: int = 32
    dropout: float = 0.2
    num_classes: Optional[int] = None

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)


@dataclass(frozen=True)
class FastDecoderConfig:
    """Optional distilled mask decoder (beyond the paper; opt-in): diffusers ``DecoderTiny``.

    It maps the scaled mask latent z (unit variance) to the same 3-channel image the frozen
    autoencoder decoder produces from ``z / s``, at a small fraction of its cost.

    Attributes:
        block_out_channels: channels per level; one level per autoencoder level.
        num_blocks: residual conv blocks per level.
    """

    block_out_channels: Tuple[int, ...] = (32, 32, 32, 32)
    num_blocks: Tuple[int, ...] = (1, 2, 2, 1)


@dataclass(frozen=True)
class ScheduleConfig:
    """Diffusion noise schedule: LDM "linear" = diffusers ``scaled_linear``, epsilon prediction."""

    num_train_timesteps: int = 1000
    beta_start: float = 0.0015
    beta_end: float = 0.0155
    beta_schedule: str = "scaled_linear"
    prediction_type: str = "epsilon"


@dataclass(frozen=True)
class SDSegConfig:
    """Full architecture of one SDSeg model.

    Attributes:
        sample_size: square input size in pixels the model was trained at (256 in the paper).
        scale_factor: latent scale s = 1 / std(mask latents of the first training batch).
        autoencoder / condition_encoder / unet / schedule: the parts.
        fast_decoder: optional distilled decoder (opt-in at inference), or None.
        preset: name of the preset it was derived from, for information only.
    """

    sample_size: int = 256
    scale_factor: float = 1.0
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    condition_encoder: ConditionEncoderConfig = field(default_factory=ConditionEncoderConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    fast_decoder: Optional[FastDecoderConfig] = None
    preset: str = "custom"

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self, source: str = "configuration") -> None:
        """Raise :class:`ConfigError` if the parts do not fit together (the rules: :mod:`SDSegLogic.config_rules`)."""
        check_config(self, source)

    # ------------------------------------------------------------------ derived
    @property
    def latent_channels(self) -> int:
        return self.autoencoder.latent_channels

    @property
    def input_multiple(self) -> int:
        """Image height and width must be multiples of this (autoencoder x UNet downsampling)."""
        return self.autoencoder.downsample_factor * self.unet.downsample_factor

    @property
    def latent_size(self) -> int:
        return self.sample_size // self.autoencoder.downsample_factor

    @property
    def is_multiclass(self) -> bool:
        return self.unet.num_classes is not None

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        return {"format": CONFIG_FORMAT, "format_version": CONFIG_FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict, source: str = "configuration") -> "SDSegConfig":
        """Build a config from its JSON form; unknown or mistyped keys raise :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}.")
        data = dict(data)
        fmt = data.pop("format", CONFIG_FORMAT)
        version = data.pop("format_version", CONFIG_FORMAT_VERSION)
        if fmt != CONFIG_FORMAT:
            raise ConfigError(f"{source}: format is {fmt!r}, expected {CONFIG_FORMAT!r}.")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ConfigError(f"{source}: format_version {version!r} must be an integer ({CONFIG_FORMAT_VERSION}).")
        if version > CONFIG_FORMAT_VERSION:
            raise ConfigError(
                f"{source}: format_version {version} is newer than this engine understands "
                f"({CONFIG_FORMAT_VERSION}); upgrade SDSegLogic."
            )
        parts = {
            "autoencoder": AutoencoderConfig,
            "condition_encoder": ConditionEncoderConfig,
            "unet": UNetConfig,
            "schedule": ScheduleConfig,
            "fast_decoder": FastDecoderConfig,
        }
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in parts:
                kwargs[key] = None if value is None else _build_part(parts[key], value, f"{source}: {key}")
            elif key in ("sample_size", "scale_factor", "preset"):
                kwargs[key] = _checked(cls, key, value, source)
            else:
                raise ConfigError(f"{source}: unknown key {key!r}; remove it or upgrade SDSegLogic.")
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("configuration", source, 1)) from None
        except TypeError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | Path) -> "SDSegConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file; a model folder needs a config.json.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc}); restore the file from the model archive.") from None
        except OSError as exc:  # a folder of that name, no permission...
            raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}); restore the file from the model archive.") from None
        return cls.from_dict(data, source=str(path))

    def replace(self, **changes: Any) -> "SDSegConfig":
        return dataclasses.replace(self, **changes)


def _build_part(part_cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {value!r}.")
    known = {f.name: f for f in dataclasses.fields(part_cls)}
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known keys are {sorted(known)}.")
    kwargs = {}
    for key, item in value.items():
        kwargs[key] = _checked(part_cls, key, tuple(item) if isinstance(item, list) else item, where)
    return part_cls(**kwargs)


def _fits(hint: str, value: Any) -> bool:
    """Whether a JSON value fits a field annotation of the dataclasses above (annotations are strings here)."""
    if hint.startswith("Optional["):
        return value is None or _fits(hint[len("Optional["):-1], value)
    if hint.startswith("Tuple["):
        return isinstance(value, tuple) and all(_fits(hint[len("Tuple["):-len(", ...]")], v) for v in value)
    if hint == "int":  # every integer field is a count or a size
        return is_integer(value) and value >= 1
    if hint == "float":
        return is_finite_number(value)
    return isinstance(value, {"bool": bool, "str": str}.get(hint, object))


def _checked(part_cls: type, key: str, value: Any, where: str) -> Any:
    """``value`` if it fits the type of field ``key`` of ``part_cls``; else a ConfigError naming it."""
    hint = {f.name: f.type for f in dataclasses.fields(part_cls)}[key]
    if not _fits(str(hint), value):
        raise ConfigError(f"{where}: {key} = {value!r} is not a valid {hint} (integers here are counts >= 1, numbers "
                          "must be finite); compare with config.json of a working model.")
    return value


def _paper() -> SDSegConfig:
    return SDSegConfig(sample_size=256, scale_factor=1.0, preset="paper")


def _lite() -> SDSegConfig:
    return SDSegConfig(
        sample_size=128,
        scale_factor=1.0,
        autoencoder=AutoencoderConfig(block_out_channels=(32, 64, 128, 128), layers_per_block=1),
        condition_encoder=ConditionEncoderConfig(block_out_channels=(32, 64, 128, 128), layers_per_block=1),
        unet=UNetConfig(
            block_out_channels=(64, 128, 128),
            attention_levels=(False, True, True),
            layers_per_block=1,
        ),
        preset="lite",
    )


def _tiny() -> SDSegConfig:
    return SDSegConfig(
        sample_size=32,
        scale_factor=1.0,
        autoencoder=AutoencoderConfig(block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4),
        condition_encoder=ConditionEncoderConfig(block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4),
        unet=UNetConfig(
            block_out_channels=(8, 16),
            attention_levels=(True, False),
            layers_per_block=1,
            attention_heads=8,
            norm_num_groups=4,
        ),
        preset="tiny",
    )


PRESETS = {"paper": _paper, "lite": _lite, "tiny": _tiny}


def preset(name: str, **changes: Any) -> SDSegConfig:
    """Return a preset configuration, optionally with top-level fields replaced.

    Args:
        name: ``"paper"``, ``"lite"`` or ``"tiny"``.
        **changes: fields of :class:`SDSegConfig` to override (e.g. ``scale_factor``).
    """
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}.") from None
    cfg = factory()
    return cfg.replace(**changes) if changes else cfg
