"""Build an :class:`SDSegModel` for training and initialise it from the configured sources."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, Optional

import torch

from SDSegLogic.config import SDSegConfig, preset
from SDSegLogic.models.sdseg_model import SDSegModel

from .errors import TrainingConfigError

__all__ = ["build_model_config", "build_model", "load_autoencoder_weights", "AE_WEIGHTS", "AE_META", "save_safetensors_atomic"]

AE_WEIGHTS = "autoencoder.safetensors"
AE_META = "autoencoder.json"


def build_model_config(model_cfg, data_cfg, scale_factor: float = 1.0) -> SDSegConfig:
    """The engine config of a run: the preset, the data's size, dropout and class count."""
    base = preset(model_cfg.preset)
    unet = dataclasses.replace(base.unet, dropout=float(model_cfg.dropout), num_classes=model_cfg.num_classes)
    cond = dataclasses.replace(base.condition_encoder, dropout=float(model_cfg.dropout))
    if data_cfg.multiclass and not model_cfg.num_classes:
        raise TrainingConfigError(
            "data.multiclass is true but model.num_classes is not set; set it to the number of "
            "foreground classes + 1 (class 0 is the union of all foreground)."
        )
    try:
        return base.replace(sample_size=int(data_cfg.size), unet=unet, condition_encoder=cond, scale_factor=float(scale_factor))
    except Exception as exc:  # ConfigError with the engine's message
        raise TrainingConfigError(f"model/data settings do not form a valid architecture: {exc}") from None


def save_safetensors_atomic(tensors: Dict[str, torch.Tensor], path: Path, metadata: Optional[Dict[str, str]] = None) -> None:
    """Write a safetensors file through a temporary sibling and an atomic rename."""
    import os
    import tempfile

    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def build_model(config: SDSegConfig, model_cfg) -> SDSegModel:
    """Build the model and apply the configured initialisation (autoencoder, tau_theta, UNet)."""
    model = SDSegModel(config)
    notes = []
    if model_cfg.autoencoder:
        notes.append(load_autoencoder_weights(model, model_cfg.autoencoder))
    if model_cfg.condition_encoder_init == "autoencoder":
        enc_state = model.autoencoder.encoder.state_dict()
        target = model.condition_encoder.encoder.state_dict()
        if all(k in enc_state and enc_state[k].shape == v.shape for k, v in target.items()):
            model.condition_encoder.encoder.load_state_dict({k: enc_state[k] for k in target})
            notes.append("tau_theta encoder from the autoencoder encoder")
        else:
            raise TrainingConfigError("model.condition_encoder_init=autoencoder but the encoder architectures differ; set it to null.")
    if model_cfg.unet_init:
        try:
            from SDSegLogic.importers import load_ldm_unet_init_state
        except ImportError as exc:
            raise TrainingConfigError(f"model.unet_init needs SDSegLogic.importers ({exc}).") from None
        from SDSegLogic.model_folder import load_state_dict_checked

        load_state_dict_checked(model.unet, load_ldm_unet_init_state(str(model_cfg.unet_init), config), str(model_cfg.unet_init))
        notes.append(f"UNet from {model_cfg.unet_init}")
    model.init_notes = notes  # type: ignore[attr-defined]
    model.autoencoder.requires_grad_(False).eval()
    return model


def autoencoder_fingerprint(autoencoder: torch.nn.Module) -> str:
    """sha256 over the autoencoder's float32 weights (names and values), to tie a run to its frozen autoencoder."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(autoencoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def read_autoencoder_meta(folder: Path) -> dict:
    path = Path(folder) / AE_META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
