"""Import an official SDSeg (PyTorch Lightning) checkpoint into an engine model folder.

What is taken from the checkpoint's ``state_dict`` (key list: Testing/Data/sdseg-checkpoint-keys.tsv):

* ``model_ema.*`` (the EMA UNet, which the official evaluation uses) when present and
  ``prefer_ema``, else ``model.diffusion_model.*``;
* ``cond_stage_model.encoder.*`` and ``cond_stage_model.out.*``: tau_theta (used raw: no EMA);
* ``first_stage_model.*``: the frozen kl-f8 autoencoder;
* ``scale_factor``; ``label_emb`` rows give the number of classes of a multi-class model.

Schedule buffers (``betas``, ``alphas_cumprod``, ...) are checked against our schedule and
otherwise ignored; EMA bookkeeping (``model_ema.decay``/``num_updates``) is ignored. Anything
else is reported by name as unexpected, EMA tensors that match no raw UNet tensor included (when
the EMA copy is used; an unused EMA copy is not looked at).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from ..config import SDSegConfig, preset
from ..errors import CheckpointError, ConfigError
from ..model_card import ModelCard, SegmentClass
from .key_maps import ldm_unet_to_diffusers, ldm_vae_to_diffusers
from .legacy_files import missing_entry_text, read_state_dict, strip_prefix

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["ImportReport", "OFFICIAL_IMAGE_RESIZE", "OFFICIAL_ORIENTATION", "PLACEHOLDER_ID_PREFIX", "convert_official_state",
           "import_official_checkpoint", "official_image_resize", "placeholder_model_id"]

_SCHEDULE_BUFFERS = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
    "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
    "lvlb_weights", "logvar",
)
_KNOWN_PREFIXES = ("model.diffusion_model.", "model_ema.", "first_stage_model.", "cond_stage_model.")


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        used_ema: the UNet weights came from the EMA copy.
        scale_factor: latent scale carried over.
        num_classes: network classes (None for binary).
        unexpected_keys: checkpoint keys that belong to no known part (reported, not loaded).
        ignored_keys: known non-weights that were skipped (schedule buffers, EMA counters).
        schedule_max_abs_diff: max |alphas_cumprod(checkpoint) - ours|, when the buffer exists.
        folder: the written model folder, if any.
    """

    used_ema: bool
    scale_factor: float
    num_classes: Optional[int]
    unexpected_keys: List[str] = field(default_factory=list)
    ignored_keys: List[str] = field(default_factory=list)
    schedule_max_abs_diff: Optional[float] = None
    folder: Optional[Path] = None


def convert_official_state(
    state: Dict[str, "torch.Tensor"],
    config: Optional[SDSegConfig] = None,
    prefer_ema: bool = True,
    source: str = "checkpoint",
) -> Tuple[SDSegConfig, Dict[str, Dict[str, "torch.Tensor"]], ImportReport]:
    """Split and rename an official state dict into our three components.

    Args:
        state: the Lightning ``state_dict``.
        config: architecture; default: the paper preset with the checkpoint's class count.
        prefer_ema: use ``model_ema.*`` UNet weights when present.
        source: name used in error messages.

    Returns:
        (config with the checkpoint's scale_factor, {component: state dict}, report).
    """
    from ..schedulers import NoiseSchedule

    if "scale_factor" not in state:
        raise CheckpointError(f"{source}: no 'scale_factor' entry; is this an SDSeg/LDM checkpoint (not a bare UNet)?")
    import torch

    raw_scale = torch.as_tensor(state["scale_factor"])
    if raw_scale.numel() != 1:
        raise CheckpointError(f"{source}: scale_factor is a tensor of shape {tuple(raw_scale.shape)}, not one number; "
                              "the checkpoint is corrupt or not an SDSeg/LDM checkpoint.")
    scale_factor = float(raw_scale.reshape(-1)[0])
    if not (math.isfinite(scale_factor) and scale_factor > 0):  # named here: the config's check names no file
        raise ConfigError(f"{source}: scale_factor must be a finite number > 0, got {scale_factor}; the checkpoint is "
                          "corrupt or not of a trained model.")
    raw_unet = strip_prefix(state, "model.diffusion_model.")
    if not raw_unet:
        raise CheckpointError(f"{source}: no 'model.diffusion_model.*' keys; not an SDSeg checkpoint.")
    label_emb = raw_unet.get("label_emb.weight")
    num_classes = int(label_emb.shape[0]) if label_emb is not None else None
    if num_classes is not None and num_classes < 3:  # the same rule as SDSegConfig: K = foreground classes + 1 >= 3
        raise ConfigError(f"{source}: label_emb has {num_classes} row(s), a multi-class model of at most one foreground "
                          "class (class 0 is the union of all foreground), which no model card can describe: one "
                          "foreground class is a binary model. Train it as a binary model (no label_emb) to import it.")
    if config is None:
        base = preset("paper")
        config = base.replace(unet=base.unet.__class__(**{**base.unet.__dict__, "num_classes": num_classes}))
    elif config.unet.num_classes != num_classes:
        # A dropped label_emb would import "successfully" as a binary model that ignores the class.
        found = f"a {num_classes}-class model (label_emb has {num_classes} rows)" if num_classes else "a binary model (no label_emb)"
        wanted = f"{config.unet.num_classes} classes" if config.unet.num_classes else "a binary model (num_classes=None)"
        raise CheckpointError(
            f"{source}: the checkpoint is {found} but the given config describes {wanted}; set "
            f"unet.num_classes={num_classes} in the config, or give no config (the paper preset with the "
            "checkpoint's class count is used)."
        )
    config = config.replace(scale_factor=scale_factor)

    ema = {k[len("model_ema.diffusion_model"):]: v for k, v in state.items() if k.startswith("model_ema.diffusion_model")}
    used_ema = bool(ema) and prefer_ema
    unet_src = raw_unet
    if used_ema:
        by_flat = {k.replace(".", ""): k for k in raw_unet}
        missing = sorted(set(by_flat) - set(ema))
        if missing:
            named = ", ".join(f"model_ema.diffusion_model{k} (of model.diffusion_model.{by_flat[k]})" for k in missing[:3])
            raise CheckpointError(f"{source}: the EMA copy of the UNet lacks {len(missing)} tensor(s), e.g. {named}; "
                                  "import the training weights (model.diffusion_model.*) instead with prefer_ema=False.")
        unet_src = {by_flat[k]: v for k, v in ema.items() if k in by_flat}
        ema_extra = sorted(f"model_ema.diffusion_model{k}" for k in ema if k not in by_flat)  # reported, not loaded
    else:
        ema_extra = []
    unet, unused_unet = ldm_unet_to_diffusers(unet_src, config)
    levels = len(config.autoencoder.block_out_channels)
    autoencoder = ldm_vae_to_diffusers(strip_prefix(state, "first_stage_model."), levels)
    cond = strip_prefix(state, "cond_stage_model.")
    _refuse_foreign_cond_stage(cond, source)
    condition_encoder = ldm_vae_to_diffusers({k: v for k, v in cond.items() if k.startswith("encoder.")}, levels)
    condition_encoder.update({k: v for k, v in cond.items() if k.startswith("out.")})

    ignored = sorted(k for k in state if k in _SCHEDULE_BUFFERS or k in ("model_ema.decay", "model_ema.num_updates", "scale_factor"))
    unexpected = sorted(
        k for k in state
        if (not k.startswith(_KNOWN_PREFIXES) or _is_stray_ema_entry(k)) and k not in ignored
    )
    unexpected += ema_extra
    unexpected += [f"model.diffusion_model.{k}" for k in unused_unet]
    unexpected += sorted(f"cond_stage_model.{k}" for k in cond if not k.startswith(("encoder.", "out.")))
    schedule_diff = None
    if "alphas_cumprod" in state:
        ours = NoiseSchedule(config.schedule).alphas_cumprod
        stored = state["alphas_cumprod"]
        theirs = stored.double()
        # a checkpoint saved in half precision rounds the buffer by up to half its dtype's epsilon (fp16: 2.4e-4)
        tolerance = max(1e-5, torch.finfo(stored.dtype).eps if stored.is_floating_point() else 0.0)
        if theirs.shape == ours.shape:
            schedule_diff = float((theirs - ours).abs().max())
        if theirs.shape != ours.shape or not schedule_diff <= tolerance:
            raise CheckpointError(
                f"{source}: the checkpoint's noise schedule differs from ours (max |d alphas_cumprod| = {schedule_diff}); "
                "set the schedule in the config to match before importing."
            )
    report = ImportReport(used_ema, scale_factor, num_classes, unexpected, ignored, schedule_diff)
    return config, {"unet": unet, "condition_encoder": condition_encoder, "autoencoder": autoencoder}, report


def _refuse_foreign_cond_stage(cond: Dict[str, "torch.Tensor"], source: str) -> None:
    """Refuse a checkpoint without SDSeg's vision encoder (``cond_stage_model.encoder.*``), naming what it holds.

    Otherwise the shape check reported 50-odd missing condition-encoder tensors (or a 4-channel ``conv_in``)
    and told the user to fix a config they never wrote: an unconditional LDM (LSUN-Churches) or a model
    conditioned on text or classes is not a segmentation model, whatever the config.
    """
    if any(k.startswith("encoder.") for k in cond):
        return
    what = (f"its cond_stage_model.* tensors are of another conditioning model (e.g. "
            f"{', '.join('cond_stage_model.' + k for k in sorted(cond)[:3])})" if cond
            else "it has no cond_stage_model.* tensors (an unconditional LDM, e.g. LSUN-Churches)")
    raise CheckpointError(f"{source}: not an SDSeg checkpoint: {what}, while SDSeg stores its image encoder as "
                          "cond_stage_model.encoder.* and cond_stage_model.out.*. Only trained SDSeg checkpoints "
                          "import; to start training from an LDM UNet, give it to the training package as "
                          "model.unet_init.")


def _is_stray_ema_entry(key: str) -> bool:
    """A ``model_ema.*`` key that is neither an EMA UNet tensor nor LitEma's bookkeeping (``decay``, ``num_updates``)."""
    return key.startswith("model_ema.") and not key.startswith("model_ema.diffusion_model") \
        and key not in ("model_ema.decay", "model_ema.num_updates")


def import_official_checkpoint(
    checkpoint: Union[str, Path],
    folder: Union[str, Path],
    card: Optional[ModelCard] = None,
    config: Optional[SDSegConfig] = None,
    prefer_ema: bool = True,
    variant: Optional[str] = None,
    overwrite: bool = False,
    dataset: Optional[str] = None,
) -> ImportReport:
    """Convert an official SDSeg ``.ckpt`` into a model folder (safetensors, config, card).

    The checkpoint is read with ``torch.load(weights_only=True)``. Missing or wrongly shaped
    tensors raise :class:`~SDSegLogic.errors.WeightsMismatchError` naming each key (a wrong shape with
    both shapes and the config keys that set it, :mod:`SDSegLogic.weight_shapes`), before anything is
    written; unexpected
    keys are listed in the returned report (and the import still succeeds). The staging folders
    ``.<name>.*`` that killed imports of the same ``folder`` left are removed
    (:mod:`~SDSegLogic.model_folder_lock`); another writer of that folder is waited for.

    Args:
        checkpoint: path to the ``.ckpt`` (or a ``.safetensors`` holding the same keys).
        folder: output model folder.
        card: model card; default: a placeholder card (binary "foreground" or "class k", model id
            :func:`placeholder_model_id`) that the user should complete with names, colours and
            the intensity window.
        config: architecture override (default: paper preset).
        prefer_ema: take the EMA UNet when present (the official evaluation does).
        variant: ``"fp16"`` to store half-precision weights.
        overwrite: replace an existing folder.
        dataset: the official dataset the checkpoint was trained on, as the official
            ``scripts/slice2seg.py --dataset`` names it (:data:`OFFICIAL_IMAGE_RESIZE`, e.g.
            ``"cvc"``): the card's ``image_resize`` is then the one its training images had (the
            checkpoint does not record it). A ``card`` given with another ``image_resize`` is refused.
            For BTCV (``"synapse-b"``, ``"synapse-m"``) the placeholder card's ``orientation`` is
            :data:`OFFICIAL_ORIENTATION`'s ``"PLS"`` (the official slices are the stored NIfTI array,
            transposed from LPS); a ``card`` given with another orientation is warned about.

    Raises:
        ConfigError: an unknown ``dataset``, or a ``card`` whose ``image_resize`` contradicts it.
        CheckpointError: not an SDSeg checkpoint (no ``cond_stage_model.encoder.*``: an unconditional LDM, or
            another conditioning model), or an EMA copy lacking tensors (naming them; ``prefer_ema=False``).
    """
    from ..model_folder import _build_empty, load_state_dict_checked, save_model_folder
    from ..models.sdseg_model import SDSegModel
    from ..weight_shapes import check_shapes

    checkpoint = Path(checkpoint)
    image_resize = official_image_resize(dataset, card, checkpoint)
    if Path(folder).exists() and not overwrite:  # said before minutes of reading and converting a 2 GB checkpoint
        raise CheckpointError(f"{folder}: already exists; choose another folder or pass overwrite=True. "
                              f"{checkpoint} was not read.")
    state = read_state_dict(checkpoint)
    if "scale_factor" not in state:  # say where the file keeps it, if anywhere, and what to do
        raise CheckpointError(missing_entry_text(checkpoint, "scale_factor")
                              or f"{checkpoint}: no 'scale_factor' entry; is this an SDSeg/LDM checkpoint (not a bare UNet)?")
    config, parts, report = convert_official_state(state, config, prefer_ema, source=str(checkpoint))
    check_shapes(config, [(f"{checkpoint} ({name})", name, {k: tuple(v.shape) for k, v in part.items()})
                          for name, part in parts.items()], config_name="the config")  # names the keys that differ
    model = _build_empty(SDSegModel, config)
    for name, part in parts.items():
        load_state_dict_checked(model.component(name), part, f"{checkpoint} ({name})", assign=True)
    if card is None:
        card = _placeholder_card(checkpoint, report.num_classes, image_resize, config.sample_size,
                                 OFFICIAL_ORIENTATION.get(dataset or "", "LPS"))
    report.folder = save_model_folder(folder, model, card, variant=variant, overwrite=overwrite)
    return report


#: Start of every placeholder model id: no registry model is named so, and it says what the model is.
PLACEHOLDER_ID_PREFIX = "imported-"


def placeholder_model_id(checkpoint: Path) -> str:
    """The model id of a placeholder card: ``imported-<file stem>``, made folder-safe.

    The bare stem could be a registry id (``sdseg-demo-ct-lite.ckpt``): the model, once zipped
    and imported, would then answer to that id wherever the registry's own model is not
    installed. It could also be a name the cache refuses (``SDSeg_BTCV``, ``epoch=99``).
    """
    stem = re.sub(r"[^a-z0-9._-]+", "-", checkpoint.stem.lower()).strip("-._") or "checkpoint"
    return (PLACEHOLDER_ID_PREFIX + stem)[:64].rstrip("-._")


#: Official dataset (``scripts/slice2seg.py --dataset``) -> the card's ``image_resize`` of its training
#: images in the official code (lin-tianyu/Stable-Diffusion-Seg; :mod:`SDSegLogic.input_resize`):
#: BTCV slices by ``cv2.resize`` INTER_LINEAR (``data/synapse/nii2format.py``), REFUGE2 and CVC-ClinicDB
#: by Pillow BILINEAR, Kvasir-SEG by Pillow BICUBIC, STS-3D by ``scipy.ndimage.zoom(order=1)``.
OFFICIAL_IMAGE_RESIZE = {
    "synapse-b": "bilinear",
    "synapse-m": "bilinear",
    "refuge2-b": "pillow-bilinear",
    "cvc": "pillow-bilinear",
    "kseg": "pillow-bicubic",
    "sts-3d": "corners-bilinear",
}


#: Official dataset -> the card's ``orientation`` that gives the engine the official slices. The official
#: BTCV slices are ``nib.load(path).get_fdata()[:, :, k]`` (``data/synapse/nii2format.py``): the stored
#: voxel array, rows along voxel axis i. The BTCV volumes are stored LPS (ITK direction identity), so that
#: slice is the transpose of an LPS slice, i.e. orientation ``"PLS"``. STS-3D is sliced the same way, but
#: its files' storage order is not known here: its card keeps the default and the user sets it.
OFFICIAL_ORIENTATION = {
    "synapse-b": "PLS",
    "synapse-m": "PLS",
}


def official_image_resize(dataset: Optional[str], card: Optional[ModelCard], checkpoint: Path) -> Optional[str]:
    """The ``image_resize`` of an official ``dataset`` (None when not given), checked against ``card``.

    Raises:
        ConfigError: an unknown ``dataset`` (naming the known ones), or a ``card`` with another
            ``image_resize`` (the model would see inputs resized otherwise than in its training).
    """
    if dataset is None:
        return None
    if dataset not in OFFICIAL_IMAGE_RESIZE:
        raise ConfigError(f"{checkpoint}: dataset {dataset!r} is not one of the official code's "
                          f"{sorted(OFFICIAL_IMAGE_RESIZE)} (its scripts/slice2seg.py --dataset names); give one of "
                          "them, or leave dataset out and set the card's image_resize yourself.")
    wanted = OFFICIAL_IMAGE_RESIZE[dataset]
    orientation = OFFICIAL_ORIENTATION.get(dataset)
    if card is not None and orientation and card.orientation.upper() != orientation:
        warnings.warn(f"{checkpoint}: the card's orientation is {card.orientation!r}, but the official code cut {dataset!r} "
                      f"slices from the NIfTI voxel array as stored (nibabel, [:, :, k]), which for the BTCV files "
                      f"(stored LPS) is orientation {orientation!r}: the model would see its slices transposed. Set "
                      f"orientation={orientation!r} in the card unless your volumes were converted otherwise.",
                      UserWarning, stacklevel=3)
    if card is not None and card.image_resize != wanted:
        raise ConfigError(f"{checkpoint}: the card's image_resize is {card.image_resize!r} but the official code resized "
                          f"{dataset!r} training images as {wanted!r}; set image_resize={wanted!r} in the card "
                          "(card.replace(image_resize=...)), or leave dataset out to keep the card as it is.")
    return wanted


def _placeholder_card(checkpoint: Path, num_classes: Optional[int], image_resize: Optional[str] = None,
                      training_size: int = 256, orientation: str = "LPS") -> ModelCard:
    """A card to complete; ``image_resize`` None (dataset unknown): the default, named among the fields to check.
    ``training_size``: the config's ``sample_size`` (image pixels, not the latent size), which the network is built for."""
    if num_classes is None:
        classes = (SegmentClass("foreground", 1, (0.9, 0.3, 0.2)),)
    else:
        classes = tuple(SegmentClass(f"class {k}", k, (0.5, 0.5, 0.5)) for k in range(1, num_classes))
    return ModelCard(
        model_id=placeholder_model_id(checkpoint),
        task="imported official SDSeg checkpoint (complete this card: classes, modality, intensity window"
             + (")" if image_resize else ", image_resize)"),
        description=f"Imported from {checkpoint.name}.",
        classes=classes,
        training_size=training_size,
        image_resize=image_resize or "bilinear",
        orientation=orientation,
    )
