"""Model folders: ``config.json`` + ``model_card.json`` + one safetensors file per component.

Layout of a folder::

    my-model/
      config.json                         architecture (SDSegConfig)
      model_card.json                     data contract + sha256 of every weight file
      unet.safetensors                    denoising UNet      (or unet.fp16.safetensors)
      condition_encoder.safetensors       vision encoder tau_theta
      autoencoder.safetensors             mask autoencoder, or a reference to a shared copy

The card's ``weights`` maps each weight file, as a path relative to the folder, to its sha256.
An autoencoder shared by several models is stored once and referenced with a relative path such
as ``../kl-f8-masks/autoencoder.safetensors``. Only safetensors files are ever read here: no
pickle is unpickled when a model folder is loaded.

Saving and loading round-trip bit-exactly: tensors are written as they are (or cast to fp16 for
the ``fp16`` variant) and read back into a model built from the same config.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from .config import SDSegConfig
from .errors import CheckpointError, ConfigError, ModelCardError, WeightsMismatchError
from .io.atomic import current_umask
from .model_card import ModelCard
from .model_folder_lock import folder_write_lock, staging_prefix
from .model_names import model_id_problem
from .shared_autoencoder import check_shared_autoencoder, shared_weight_entry, weight_file_name
from .staging_names import make_staging
from .weight_hashes import BackgroundVerification, sha256_file

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .models.sdseg_model import SDSegModel

__all__ = [
    "CONFIG_NAME",
    "CARD_NAME",
    "weight_file_name",
    "sha256_file",
    "save_model_folder",
    "load_model_folder",
    "load_state_dict_checked",
    "move_folder_into_place",
    "remove_tree_or_link",
    "resolve_weight_files",
    "verify_model_folder",
]

CONFIG_NAME = "config.json"
CARD_NAME = "model_card.json"
PathLike = Union[str, "os.PathLike[str]"]


def save_model_folder(
    folder: PathLike,
    model: "SDSegModel",
    card: ModelCard,
    variant: Optional[str] = None,
    shared_autoencoder: Optional[PathLike] = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` and ``card`` as a model folder, atomically.

    The folder is assembled in a temporary sibling directory and renamed into place, so a
    crash never leaves a half-written model behind; one writer of ``folder`` at a time, and the
    staging folders killed writers left are removed (:mod:`SDSegLogic.model_folder_lock`).

    Args:
        folder: destination directory.
        model: the model; its ``config`` is written as ``config.json``.
        card: model card; its ``weights`` field is replaced by the sha256 of the files written.
        variant: ``None`` to store tensors as they are, ``"fp16"`` to store floating tensors as
            float16 (``<component>.fp16.safetensors``; a value beyond float16's range is refused).
        shared_autoencoder: path to an existing ``autoencoder*.safetensors`` to reference
            instead of writing a copy (it must hold this model's autoencoder weights).
        overwrite: replace an existing folder.

    Returns:
        The folder path.
    """
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise CheckpointError(f"{folder}: already exists; choose another folder or pass overwrite=True.")
    if variant not in (None, "fp16"):
        raise ConfigError(f"variant {variant!r} is not supported; use None or 'fp16'.")
    misfit = _classes_misfit(card, model.config)
    if misfit:  # a folder every segmentation refuses; nothing is written
        raise ModelCardError(f"{folder}: model card {card.model_id!r} {misfit}")
    with folder_write_lock(folder):  # one writer per folder; staging folders of killed writers removed
        if folder.exists() and not overwrite:  # another writer finished it while this one waited
            raise CheckpointError(f"{folder}: already exists; choose another folder or pass overwrite=True.")
        _write_into_place(folder, model, card, variant, shared_autoencoder)
    return folder


def _write_into_place(folder: Path, model: "SDSegModel", card: ModelCard, variant: Optional[str],
                      shared_autoencoder: Optional[PathLike]) -> None:
    """Write the weights, config and card into a staging sibling of ``folder``, then rename it into place."""
    import torch

    from .weights_file import save_safetensors_reproducibly

    staging = make_staging(folder.parent, staging_prefix(folder))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700; a model folder is shared data
    try:
        weights: Dict[str, str] = {}
        for name in model.component_names:
            if name == "autoencoder" and shared_autoencoder is not None:
                shared = Path(shared_autoencoder).resolve()
                check_shared_autoencoder(shared, model.component(name), folder)
                weights[shared_weight_entry(shared, folder.resolve())] = sha256_file(shared)
                continue
            state = {}
            for key, tensor in model.component(name).state_dict().items():
                tensor = tensor.detach().to("cpu")
                if variant == "fp16" and tensor.is_floating_point():
                    half = tensor.to(torch.float16)
                    if bool((torch.isinf(half) & torch.isfinite(tensor)).any()):  # beyond 65504: inf, NaN maps
                        raise CheckpointError(f"{folder}: {name} weight {key!r} holds values up to "
                                              f"{tensor.abs().max().item():g}, beyond float16's 65504; save it "
                                              "without variant='fp16' (full precision). Nothing was written.")
                    tensor = half
                state[key] = tensor.contiguous()
            file_name = weight_file_name(name, variant)
            save_safetensors_reproducibly(state, staging / file_name, metadata={"format": "pt", "component": name})
            os.chmod(staging / file_name, 0o666 & ~current_umask())
            weights[file_name] = sha256_file(staging / file_name)
        model.config.to_json(staging / CONFIG_NAME)
        card.replace(weights=weights).to_json(staging / CARD_NAME)
        move_folder_into_place(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def move_folder_into_place(staging: Path, destination: Path) -> None:
    """Rename a fully written ``staging`` folder to ``destination``, replacing any old one.

    The old folder is first renamed aside to ``.<name>.old`` and deleted only after the new one
    is in place, so ``destination`` is the complete old or the complete new folder, except for the
    instant between the two renames, when it is absent. If the new folder cannot be moved in
    (e.g. ``destination`` is on another disk than ``staging``), the old one is put back before
    the error is raised; a process killed in that instant leaves it at ``.<name>.old``, where the
    next import into the model cache puts it back (:mod:`SDSegLogic.model_cache_lock`). A
    ``destination`` that is a symbolic link (a model kept on another disk) is replaced by the new
    folder: only the link is removed, never what it points to.
    """
    if os.path.lexists(destination):
        backup = destination.with_name(f".{destination.name}.old")
        remove_tree_or_link(backup)
        os.replace(destination, backup)
        try:
            os.replace(staging, destination)
        except BaseException:
            os.replace(backup, destination)
            raise
        remove_tree_or_link(backup)
    else:
        os.replace(staging, destination)


def remove_tree_or_link(path: Path) -> None:
    """Remove a folder with its contents, or only the link when ``path`` is a symbolic link (its target is kept).

    ``shutil.rmtree`` refuses a link; ignoring that error left the link in place. Errors are ignored,
    as for a folder that is already gone.
    """
    if os.path.islink(path) or os.path.isfile(path):
        try:
            os.unlink(path)
        except OSError:
            pass
    else:
        shutil.rmtree(path, ignore_errors=True)


def stored_components(config: SDSegConfig) -> Tuple[str, ...]:
    """Components a folder with this config must hold weights for."""
    return ("unet", "condition_encoder", "autoencoder") + (("fast_decoder",) if config.fast_decoder is not None else ())


def resolve_weight_files(
    folder: PathLike, card: ModelCard, variant: Optional[str] = None, components: Tuple[str, ...] = ("unet", "condition_encoder", "autoencoder")
) -> Dict[str, Path]:
    """Map each component to the weight file to load.

    A component's file is the card entry whose file name is ``<component>.safetensors`` (or
    ``<component>.<variant>.safetensors``); when ``variant`` is None the plain file is preferred
    and the fp16 one used if it is the only one.
    """
    folder = Path(folder)
    found: Dict[str, Path] = {}
    for name in components:
        wanted = [weight_file_name(name, variant)] if variant else [weight_file_name(name), weight_file_name(name, "fp16")]
        for candidate in wanted:
            entry = next((rel for rel in card.weights if Path(rel).name == candidate), None)
            if entry is not None:
                found[name] = (folder / entry)
                break
        else:
            listed = ", ".join(sorted(card.weights)) or "none"
            raise CheckpointError(
                f"{folder / CARD_NAME}: no weight file for component {name!r} (looked for {wanted}; the card lists "
                f"{listed}). Re-export the model or restore the missing file."
            )
    return found


def load_state_dict_checked(module: "torch.nn.Module", state: Dict[str, "torch.Tensor"], source: str, assign: bool = False) -> None:
    """Load ``state`` into ``module`` after checking names and shapes, naming every problem.

    Raises:
        WeightsMismatchError: listing missing keys, unexpected keys, shape mismatches and integer, bool or
            8-bit float tensors given for floating-point parameters (or floats for integer ones).
    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    # an integer or bool tensor where the model holds floats (or the reverse) is not a weight of this model (torch
    # would refuse it with a bare RuntimeError); an 8-bit float (3 mantissa bits) would be upcast without a word
    wrong_type = sorted(
        f"{k}: file {str(state[k].dtype).replace('torch.', '')} vs model {str(expected[k].dtype).replace('torch.', '')}"
        for k in set(expected) & set(state)
        if state[k].is_floating_point() != expected[k].is_floating_point()
        or (state[k].is_floating_point() and state[k].element_size() < 2)
    )
    if missing or unexpected or wrong or wrong_type:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {_abbrev(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {_abbrev(unexpected)}")
        if wrong:
            parts.append(f"wrong shape {len(wrong)}: {_abbrev(wrong)}")
        if wrong_type:
            parts.append(f"wrong dtype {len(wrong_type)}: {_abbrev(wrong_type)} (weights are float16, bfloat16, "
                         "float32 or float64)")
        raise WeightsMismatchError(
            f"{source}: weights do not match the architecture in config.json ({'; '.join(parts)}). "
            "Check that config.json belongs to these weights."
        )
    module.load_state_dict(state, strict=True, assign=assign)


def load_model_folder(
    folder: PathLike,
    device: Union[str, "torch.device"] = "cpu",
    dtype: Optional["torch.dtype"] = None,
    variant: Optional[str] = None,
    verify: bool = True,
) -> Tuple["SDSegModel", ModelCard]:
    """Load a model folder into an eval-mode :class:`SDSegModel`.

    Args:
        folder: the model folder.
        device: where to put the model.
        dtype: parameter dtype; ``None`` keeps the stored dtype of fp32 files and upcasts an
            fp16 variant to float32 (the CPU default).
        variant: force ``"fp16"`` (or ``None`` for automatic choice).
        verify: check each weight file's sha256 against the card. The digests are computed on
            worker threads while the modules are built and the files read (see
            :mod:`SDSegLogic.weight_hashes`); no model is returned before every file matched.

    Returns:
        (model, card).

    Raises:
        CheckpointError: a missing, unreadable or corrupt weight file (a digest mismatch is
            reported in preference to the parse error it may cause).
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models.sdseg_model import SDSegModel

    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a model folder (no such directory). Pass a folder with config.json, model_card.json and *.safetensors.")
    config = SDSegConfig.from_json(folder / CONFIG_NAME)
    card = ModelCard.from_json(folder / CARD_NAME)
    files = resolve_weight_files(folder, card, variant, stored_components(config))
    for name, path in files.items():
        if not path.is_file():
            raise CheckpointError(f"{path}: weight file of component {name!r} is missing; restore it or re-export the model.")
    verification = None
    if verify:
        expected = {path: card.weights[next(rel for rel in card.weights if (folder / rel) == path)] for path in files.values()}
        verification = BackgroundVerification(expected)
    try:
        model = _build_empty(SDSegModel, config)  # imports diffusers: GIL-bound, overlapped with the hashing
        for name, path in files.items():
            try:
                state = load_file(str(path))
            except (SafetensorError, OSError, ValueError) as exc:
                raise CheckpointError(f"{path}: not a readable safetensors file ({exc}); re-download or re-export it.") from None
            load_state_dict_checked(model.component(name), state, str(path), assign=True)
    except Exception:
        if verification is not None:
            verification.raise_if_mismatch()  # a corrupt file explains the failure better than its symptom
        raise
    if verification is not None:
        verification.raise_if_mismatch()
    target_dtype = dtype if dtype is not None else torch.float32
    model = model.to(device=device, dtype=target_dtype).eval()
    return model, card


def verify_model_folder(folder: PathLike) -> List[str]:
    """Check a model folder without building the model. Returns a list of problems (empty = OK).

    The weight files' tensors are not compared with ``config.json`` here (``sdseg models verify`` and
    the zip import do that: :func:`~SDSegLogic.weight_shapes.check_folder_shapes`).
    """
    folder = Path(folder)
    problems: List[str] = []
    try:
        config = SDSegConfig.from_json(folder / CONFIG_NAME)
        card = ModelCard.from_json(folder / CARD_NAME)
    except (ConfigError, ModelCardError) as exc:
        return [str(exc)]
    if model_id_problem(card.model_id):  # what the zip import refuses (a cache folder is named by the id)
        problems.append(f"{folder / CARD_NAME}: {model_id_problem(card.model_id)}")
    if not card.weights:
        problems.append(f"{folder / CARD_NAME}: lists no weight files.")
    misfit = _classes_misfit(card, config)
    if misfit:  # what the pipeline refuses to run
        problems.append(f"{folder / CARD_NAME}: {misfit}")
    for rel, expected in sorted(card.weights.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{path}: missing.")
        elif sha256_file(path) != expected.lower():
            problems.append(f"{path}: sha256 mismatch (corrupt or replaced).")
    try:
        resolve_weight_files(folder, card, components=stored_components(config))
    except CheckpointError as exc:
        problems.append(str(exc))
    return problems


def _classes_misfit(card: ModelCard, config: SDSegConfig) -> Optional[str]:
    """Why ``card``'s classes do not fit the network of ``config`` (the pipeline refuses such a pair), or None."""
    network = config.unet.num_classes or 1
    if card.num_network_classes == network:
        return None
    return (f"lists {len(card.classes)} class(es) ({card.num_network_classes} network classes) but config.json's network "
            f"has {network}; fix the card's classes.")


def _build_empty(model_cls, config: SDSegConfig):
    """Build the model without spending time on random initialisation (weights are loaded next)."""
    import torch

    try:
        with torch.device("meta"):
            return model_cls(config)
    except Exception:  # pragma: no cover - a diffusers version that cannot build on meta
        return model_cls(config)


def _abbrev(items: List[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")
