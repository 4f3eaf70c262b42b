"""Build an :class:`SDSegModel` for training and initialise it from the configured sources."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from SDSegLogic.config import SDSegConfig, preset
from SDSegLogic.models.sdseg_model import SDSegModel

from .errors import TrainingConfigError

__all__ = ["build_model_config", "preset_with_architecture", "ARCHITECTURE_PARTS", "build_model", "load_autoencoder_weights",
           "AE_WEIGHTS", "AE_META", "RANDOM_AUTOENCODER", "save_safetensors_atomic", "stage1_weights",
           "resolve_autoencoder_source", "state_fingerprint"]

AE_WEIGHTS = "autoencoder.safetensors"
AE_META = "autoencoder.json"
#: ``model.autoencoder`` value for a deliberately random, untrained autoencoder (tests, smoke runs).
RANDOM_AUTOENCODER = "random"
ARCHITECTURE_PARTS = ("autoencoder", "condition_encoder", "unet")
#: Fields of ``model.architecture`` that a ``model`` key of their own sets for every run (build_model_config
#: would replace them without a word): refused there, with the key to use instead.
_OWN_SETTINGS = {("unet", "dropout"): "model.dropout", ("condition_encoder", "dropout"): "model.dropout",
                 ("unet", "num_classes"): "model.num_classes"}


def preset_with_architecture(name: str, architecture: Optional[Dict[str, Any]]) -> SDSegConfig:
    """The named engine preset with ``model.architecture`` changes applied.

    Args:
        name: ``paper``, ``lite`` or ``tiny``.
        architecture: ``{part: {field: value}}`` for the parts in ``ARCHITECTURE_PARTS``; the
            fields are those of the engine's ``config.json`` (``SDSegLogic.config``).

    Raises:
        TrainingConfigError: an unknown part or field, or parts that do not fit together; the
            message names the setting.
    """
    from SDSegLogic.errors import ConfigError

    base = preset(name)
    if not architecture:
        return base
    if not isinstance(architecture, dict):
        raise TrainingConfigError(f"model.architecture must be a mapping of parts to fields, got {architecture!r}.")
    unknown = sorted(set(architecture) - set(ARCHITECTURE_PARTS))
    if unknown:
        raise TrainingConfigError(
            f"model.architecture: unknown parts {unknown}; the parts that can change are {list(ARCHITECTURE_PARTS)}."
        )
    data = base.to_dict()
    for part, changes in architecture.items():
        if not isinstance(changes, dict):
            raise TrainingConfigError(f"model.architecture.{part} must map field names to values, got {changes!r}.")
        for field in changes:
            if (part, field) in _OWN_SETTINGS:
                key = _OWN_SETTINGS[(part, field)]
                raise TrainingConfigError(
                    f"model.architecture.{part}.{field}={changes[field]!r} is set by {key} (for every run; it would "
                    f"replace this value): remove it from model.architecture and set {key} instead.")
        data[part] = {**data[part], **changes}
    try:
        return SDSegConfig.from_dict(data, source="model.architecture")
    except ConfigError as exc:
        raise TrainingConfigError(str(exc)) from None


def build_model_config(model_cfg, data_cfg, scale_factor: float = 1.0) -> SDSegConfig:
    """The engine config of a run: the preset (with ``model.architecture``), the data's size, dropout and class count."""
    base = preset_with_architecture(model_cfg.preset, getattr(model_cfg, "architecture", None))
    unet = dataclasses.replace(base.unet, dropout=float(model_cfg.dropout), num_classes=model_cfg.num_classes)
    cond = dataclasses.replace(base.condition_encoder, dropout=float(model_cfg.dropout))
    if data_cfg.multiclass and not model_cfg.num_classes:
        raise TrainingConfigError(
            "data.multiclass is true but model.num_classes is not set; set it to the number of "
            "foreground classes + 1 (class 0 is the union of all foreground)."
        )
    size, multiple = int(data_cfg.size), base.input_multiple
    if size <= 0 or size % multiple:  # in the user's words (data.size), with sizes that fit
        lower, upper = max(multiple, size // multiple * multiple), (max(size, 0) // multiple + 1) * multiple
        nearest = f"{lower} or {upper}" if lower != upper else str(upper)
        raise TrainingConfigError(f"data.size={size} does not fit model.preset={model_cfg.preset!r}: the slices must be a "
                                  f"multiple of {multiple} px (the autoencoder and UNet downsampling together); use "
                                  f"data.size={nearest}.")
    try:
        return base.replace(sample_size=size, unet=unet, condition_encoder=cond, scale_factor=float(scale_factor))
    except Exception as exc:  # ConfigError with the engine's message
        raise TrainingConfigError(f"model/data settings do not form a valid architecture: {exc}") from None


def save_safetensors_atomic(tensors: Dict[str, torch.Tensor], path: Path, metadata: Optional[Dict[str, str]] = None) -> None:
    """Write a safetensors file, byte-for-byte reproducibly, through a temporary sibling and an atomic rename."""
    from SDSegLogic.io.atomic import atomic_output
    from SDSegLogic.weights_file import save_safetensors_reproducibly

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:  # follows the umask: a weight file is as readable as any other
        save_safetensors_reproducibly({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp,
                                      metadata=metadata)


def load_autoencoder_weights(model: SDSegModel, source: str) -> str:
    """Load the frozen autoencoder from our stage-1 output or from kl-f8 weights.

    Args:
        model: the model whose ``autoencoder`` is filled.
        source: a stage-1 folder (with ``autoencoder.safetensors``), such a file, an engine model
            folder, or kl-f8 weights (a diffusers folder or an original ``.ckpt``/``.safetensors``,
            read by ``SDSegLogic.importers.load_autoencoder_state``).

    Returns:
        A short description of what was loaded.
    """
    from safetensors.torch import load_file

    from SDSegLogic.model_folder import load_state_dict_checked

    path = Path(source)
    candidates = [path / AE_WEIGHTS, path / "autoencoder.fp16.safetensors"] if path.is_dir() else [path]
    ours = next((p for p in candidates if p.is_file() and p.name.startswith("autoencoder") and p.suffix == ".safetensors"), None)
    if ours is not None:
        _check_stage1_architecture(model, ours.parent, source)
        state = {k: v.float() for k, v in load_file(str(ours)).items()}
        load_state_dict_checked(model.autoencoder, state, str(ours))
        return f"stage-1 autoencoder {ours}"
    if not path.exists():
        raise TrainingConfigError(f"model.autoencoder: {path} does not exist; train one with sdseg-train-ae or point to kl-f8 weights.")
    try:
        from SDSegLogic.importers import load_autoencoder_state
    except ImportError as exc:
        raise TrainingConfigError(
            f"model.autoencoder: {path} is not a stage-1 output and SDSegLogic.importers is unavailable ({exc})."
        ) from None
    state = load_autoencoder_state(str(path))
    load_state_dict_checked(model.autoencoder, state, str(path))
    return f"kl-f8 autoencoder {path}"


def _check_stage1_architecture(model: SDSegModel, folder: Path, source: str) -> None:
    """Raise a clear error when a stage-1 folder's autoencoder differs from the run's architecture."""
    trained = read_autoencoder_meta(folder).get("autoencoder")
    if not trained:
        return
    expected = dataclasses.asdict(model.config.autoencoder)
    differing = {k: (trained.get(k), v) for k, v in expected.items() if k in trained and _as_list(trained[k]) != _as_list(v)}
    if differing:
        what = "; ".join(f"{k}: trained {a}, this config {b}" for k, (a, b) in sorted(differing.items()))
        raise TrainingConfigError(
            f"model.autoencoder: {source} was trained with a different autoencoder architecture ({what}). "
            "Use the model.architecture of its stage-1 run, or train stage 1 again with this one."
        )


def _as_list(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def build_model(config: SDSegConfig, model_cfg) -> SDSegModel:
    """Build the model and apply the configured initialisation (autoencoder, tau_theta, UNet).

    Args:
        config: the run's engine configuration.
        model_cfg: the ``model`` section; ``model.autoencoder`` must name the frozen autoencoder
            (resolve a null one first with :func:`resolve_autoencoder_source`) or be ``random``.

    Raises:
        TrainingConfigError: ``model.autoencoder`` is null (a random frozen autoencoder makes the
            task meaningless and the run impossible to export), or a source does not load.
    """
    model = SDSegModel(config)
    notes = []
    source = model_cfg.autoencoder
    if source is None or not str(source).strip():
        raise TrainingConfigError(missing_autoencoder_message(None))
    if is_random_autoencoder(source):
        notes.append("RANDOM autoencoder (model.autoencoder=random: for tests and smoke runs only)")
    else:
        notes.append(load_autoencoder_weights(model, source))
    if model_cfg.condition_encoder_init == "autoencoder":
        enc_state = model.autoencoder.encoder.state_dict()
        target = model.condition_encoder.encoder.state_dict()
        if all(k in enc_state and enc_state[k].shape == v.shape for k, v in target.items()):
            model.condition_encoder.encoder.load_state_dict({k: enc_state[k] for k in target})
            notes.append("tau_theta encoder from the autoencoder encoder")
        else:
            raise TrainingConfigError("model.condition_encoder_init=autoencoder but the encoder architectures differ; set it to null.")
    elif model_cfg.condition_encoder_init:
        notes.append(_component_from_model_folder(model, "condition_encoder", Path(model_cfg.condition_encoder_init), config,
                                                  "model.condition_encoder_init"))
    if model_cfg.unet_init:
        notes.append(load_unet_init(model, str(model_cfg.unet_init), config))
    model.init_notes = notes  # type: ignore[attr-defined]
    model.autoencoder.requires_grad_(False).eval()
    return model


def load_unet_init(model: SDSegModel, source: str, config: SDSegConfig) -> str:
    """Initialise ``model.unet`` from ``model.unet_init``; returns a note for the run record.

    Args:
        model: the model being built.
        source: an engine model folder (its UNet, EMA weights as exported; the UNet architecture
            and class count must match, the autoencoder and tau_theta may differ), or an LDM
            UNet checkpoint such as LSUN-Churches: its training UNet ``model.diffusion_model.*``, not
            its ``model_ema.*`` copy, as the official code (:func:`SDSegLogic.importers.load_ldm_unet_init_state`; conv_in widened 4 -> 8).
        config: the run's engine configuration.

    Raises:
        TrainingConfigError: a model folder whose UNet does not fit this run's UNet.
    """
    from SDSegLogic.model_folder import load_state_dict_checked

    path = Path(source)
    if path.is_dir() and (path / "config.json").is_file():
        return _component_from_model_folder(model, "unet", path, config, "model.unet_init")
    try:
        from SDSegLogic.importers import load_ldm_unet_init_state
    except ImportError as exc:
        raise TrainingConfigError(f"model.unet_init needs SDSegLogic.importers ({exc}).") from None
    load_state_dict_checked(model.unet, load_ldm_unet_init_state(source, config), source)
    return f"UNet from {source} (its training weights model.diffusion_model.*, as the official code)"


def _component_from_model_folder(model: SDSegModel, component: str, folder: Path, config: SDSegConfig, setting: str) -> str:
    """Load ``component`` (``unet`` or ``condition_encoder``) from an engine model folder's weights."""
    from safetensors.torch import load_file

    from SDSegLogic.errors import SDSegError
    from SDSegLogic.model_card import ModelCard
    from SDSegLogic.model_folder import load_state_dict_checked, resolve_weight_files

    if not (folder / "config.json").is_file():
        raise TrainingConfigError(f"{setting}: {folder} is not an engine model folder (no config.json).")
    try:
        trained = SDSegConfig.from_json(folder / "config.json")
    except (SDSegError, OSError) as exc:
        raise TrainingConfigError(f"{setting}: {exc}") from None
    theirs, ours = _shape_fields(trained, component), _shape_fields(config, component)
    if theirs != ours:
        what = "; ".join(f"{k}: {theirs.get(k)} there, {ours.get(k)} here" for k in sorted(ours) if theirs.get(k) != ours.get(k))
        raise TrainingConfigError(
            f"{setting}: the {component} of {folder} does not fit this run's ({what}); pick a model folder "
            f"of the same preset, architecture and class count, or set {setting} to null."
        )
    try:
        path = resolve_weight_files(folder, ModelCard.from_json(folder / "model_card.json"), None, (component,))[component]
        state = {k: v.float() for k, v in load_file(str(path)).items()}
        load_state_dict_checked(model.component(component), state, str(path))
    except (SDSegError, OSError) as exc:
        raise TrainingConfigError(f"{setting}: {exc}") from None
    return f"{component} from the model folder {folder} (its exported weights; the UNet's are the EMA)"


def _shape_fields(config: SDSegConfig, component: str) -> Dict[str, Any]:
    """The settings that ``component``'s weights depend on (not its dropout)."""
    fields = {k: _as_list(v) for k, v in dataclasses.asdict(getattr(config, component)).items() if k != "dropout"}
    fields["latent_channels"] = config.latent_channels
    return fields


def autoencoder_fingerprint(autoencoder: torch.nn.Module) -> str:
    """sha256 over the autoencoder's float32 weights (names and values), to tie a run to its frozen autoencoder."""
    return state_fingerprint(autoencoder.state_dict())


def state_fingerprint(state: Dict[str, torch.Tensor]) -> str:
    """:func:`autoencoder_fingerprint` of a state dict (e.g. a stage-1 ``autoencoder.safetensors`` as loaded)."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def read_autoencoder_meta(folder: Path) -> dict:
    path = Path(folder) / AE_META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def is_random_autoencoder(source: Any) -> bool:
    """True for the explicit ``model.autoencoder: random`` (an untrained autoencoder, on purpose)."""
    return isinstance(source, str) and source.strip().lower() == RANDOM_AUTOENCODER


def stage1_weights(folder: Any) -> Optional[Path]:
    """The trained autoencoder file of a stage-1 output folder, or None when it holds none."""
    if folder is None:
        return None
    path = Path(folder)
    return next((p for p in (path / AE_WEIGHTS, path / "autoencoder.fp16.safetensors") if p.is_file()), None)


def missing_autoencoder_message(stage1: Optional[Path]) -> str:
    """Why stage 2 refuses a null ``model.autoencoder``, with both remedies."""
    if stage1 is not None:
        head = (f"model.autoencoder is null and autoencoder.output_dir={stage1} holds no trained stage-1 autoencoder "
                f"({AE_WEIGHTS}). Stage 2 needs a trained, frozen autoencoder: run `sdseg-train-ae <config>` first "
                "(a null model.autoencoder then uses autoencoder.output_dir)")
    else:
        head = ("model.autoencoder is null. Stage 2 needs a trained, frozen autoencoder: run `sdseg-train-ae <config>` "
                "first and set model.autoencoder to its autoencoder.output_dir")
    return (f"{head}, or set model.autoencoder to kl-f8 weights (diffusers folder or original .ckpt/.safetensors) or "
            "to another stage-1 output folder. model.autoencoder=random trains on an untrained autoencoder on "
            "purpose (tests and smoke runs only; such a run cannot be exported).")


def resolve_autoencoder_source(cfg, log=None) -> str:
    """The frozen autoencoder of a run; a null ``model.autoencoder`` becomes the config's stage-1 output.

    ``cfg.model.autoencoder`` is set to the resolved source, so the run's recorded config names it.

    Args:
        cfg: a :class:`~sdseg_training.config.TrainConfig`.
        log: called with one line when the stage-1 output is used (None: silent).

    Returns:
        ``model.autoencoder`` as given, ``random``, or ``autoencoder.output_dir``.

    Raises:
        TrainingConfigError: null, and ``autoencoder.output_dir`` holds no trained stage-1 autoencoder.
    """
    source = cfg.model.autoencoder
    if source is not None and str(source).strip():
        return source
    stage1 = Path(cfg.autoencoder.output_dir)
    if stage1_weights(stage1) is None:
        raise TrainingConfigError(missing_autoencoder_message(stage1))
    cfg.model.autoencoder = str(stage1)
    if log is not None:
        log(f"model.autoencoder is null: using the stage-1 autoencoder of this config, {stage1} (autoencoder.output_dir).")
    return str(stage1)
