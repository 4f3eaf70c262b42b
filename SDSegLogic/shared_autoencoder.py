"""The shared autoencoder of a model folder: checked before it is referenced, and named in the card.

Several models trained with one mask autoencoder may store it once; each card then lists it by a
path relative to its own folder, such as ``../kl-f8-masks/autoencoder.safetensors``
(:func:`SDSegLogic.model_folder.save_model_folder`). Card paths use ``/`` on every system, so a
folder written on Windows loads on Linux and passes the zip import's member checks.
"""

from __future__ import annotations

import ntpath
import posixpath
from pathlib import Path, PurePath, PureWindowsPath
from typing import TYPE_CHECKING, Optional

from .errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["check_shared_autoencoder", "shared_weight_entry", "weight_file_name"]


def weight_file_name(component: str, variant: Optional[str] = None) -> str:
    """``unet.safetensors`` or, for a variant, ``unet.fp16.safetensors``."""
    return f"{component}.{variant}.safetensors" if variant else f"{component}.safetensors"


def shared_weight_entry(shared: PurePath, folder: PurePath) -> str:
    """The card's ``weights`` key of ``shared`` for a model folder ``folder``: relative, with ``/`` separators.

    Args:
        shared: absolute path of the shared ``autoencoder*.safetensors`` (a ``PureWindowsPath`` on Windows).
        folder: absolute path of the model folder being written, of the same flavour.

    Returns:
        E.g. ``"../kl-f8-masks/autoencoder.safetensors"``; ``os.path.relpath`` on Windows gave
        ``..\\kl-f8-masks\\autoencoder.safetensors``, which POSIX reads as one file name and the zip
        import refuses.
    """
    if isinstance(shared, PureWindowsPath):
        return ntpath.relpath(str(shared), str(folder)).replace("\\", "/")
    return posixpath.relpath(str(shared), str(folder))


def check_shared_autoencoder(shared: Path, autoencoder: "torch.nn.Module", folder: Optional[Path] = None) -> None:
    """Refuse a shared autoencoder file that a loader would not find or that holds other weights.

    Args:
        shared: the resolved path of the shared file.
        autoencoder: the model's autoencoder, whose weights the file must hold.
        folder: the model folder being written, if known: the shared file may not lie inside it,
            since the new folder replaces the old one whole (``overwrite``) and the file would go with it.

    Raises:
        CheckpointError: naming the file: inside ``folder``, missing, not named
            ``autoencoder[.fp16].safetensors`` (the names :func:`resolve_weight_files` looks for), or its
            tensors are not ``autoencoder``'s (compared in the file's dtype, so an fp16 file of the same
            weights matches).
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if folder is not None and Path(folder).resolve() in shared.parents:
        raise CheckpointError(f"{shared}: the shared autoencoder file lies inside the model folder {folder} being "
                              "written, which replaces that folder whole: the file would be deleted and the model "
                              "left without its autoencoder. Save without shared_autoencoder (the autoencoder is "
                              "written into the folder), or share a file kept outside it. Nothing was written.")
    if not shared.is_file():
        raise CheckpointError(f"{shared}: shared autoencoder file not found.")
    names = (weight_file_name("autoencoder"), weight_file_name("autoencoder", "fp16"))
    if shared.name not in names:
        raise CheckpointError(f"{shared}: a shared autoencoder file must be named {' or '.join(names)}, the names a "
                              "model folder's loader looks for; rename it (or save without shared_autoencoder).")
    try:
        stored = load_file(str(shared))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{shared}: not a readable safetensors file ({exc}).") from None
    ours = autoencoder.state_dict()
    same = stored.keys() == ours.keys() and all(
        stored[k].shape == ours[k].shape and torch.equal(stored[k], ours[k].detach().to("cpu", stored[k].dtype))
        for k in ours)
    if not same:
        raise CheckpointError(f"{shared}: the shared autoencoder file does not hold this model's autoencoder weights; "
                              "share only the file the model was trained with (or save without shared_autoencoder).")
