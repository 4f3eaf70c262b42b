"""Where the exported OFFICIAL SDSeg code lives, and importing it safely (benchmark reference only).

``benchmarks/export_official_modules.sh DEST`` writes the few official files the benchmark needs
into ``DEST``; this module checks such a tree, reads the commit it came from, imports its modules
(refusing a different ``ldm`` package already on the path) and, for configurations whose
GroupNorms are not the official 32 groups, patches the two official constructors while networks
are built. :mod:`official_reference` builds and runs the networks.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator, Optional

import torch

__all__ = ["EXPORT_SCRIPT", "OFFICIAL_FILES", "OFFICIAL_NORM_GROUPS", "OfficialCodeError", "check_official_tree",
           "official_commit", "import_official", "groupnorm_groups"]

#: The helper that writes an importable official tree (relative to the repository root).
EXPORT_SCRIPT = "benchmarks/export_official_modules.sh"

#: Files of the official repository that must exist under ``ldm_root``.
OFFICIAL_FILES = (
    "ldm/util.py",
    "ldm/modules/attention.py",
    "ldm/modules/diffusionmodules/model.py",
    "ldm/modules/diffusionmodules/openaimodel.py",
    "ldm/modules/diffusionmodules/util.py",
)

#: Groups the official code hard-codes in every GroupNorm (util.normalization, model.Normalize).
OFFICIAL_NORM_GROUPS = 32

class OfficialCodeError(RuntimeError):
    """The official modules are missing, not importable, or cannot express the configuration."""


def check_official_tree(ldm_root: Path) -> Path:
    """Check that ``ldm_root`` holds an exported official tree.

    Args:
        ldm_root: folder written by ``benchmarks/export_official_modules.sh``.

    Returns:
        The resolved folder.

    Raises:
        OfficialCodeError: the folder or one of :data:`OFFICIAL_FILES` is missing; the message
            names the folder and the export script.
    """
    root = Path(ldm_root).expanduser()
    if not root.is_dir():
        raise OfficialCodeError(
            f"official LDM folder '{root}' does not exist; export the official modules into it first: "
            f"{EXPORT_SCRIPT} {root}"
        )
    missing = [name for name in OFFICIAL_FILES if not (root / name).is_file()]
    if missing:
        raise OfficialCodeError(
            f"official LDM folder '{root}' lacks {', '.join(missing)}; (re-)export the official modules: "
            f"{EXPORT_SCRIPT} {root}"
        )
    return root.resolve()


def official_commit(ldm_root: Path) -> Optional[str]:
    """The official commit recorded by the export script (``COMMIT`` file), or ``None``."""
    path = Path(ldm_root) / "COMMIT"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    return text.splitlines()[0].strip() if text else None


def import_official(ldm_root: Path):
    """Import the official modules from ``ldm_root``: (openaimodel, model, util)."""
    root = check_official_tree(ldm_root)
    loaded = sys.modules.get("ldm")
    if loaded is not None:
        origin = Path(next(iter(getattr(loaded, "__path__", [])), getattr(loaded, "__file__", "") or "")).resolve()
        if origin != (root / "ldm"):
            raise OfficialCodeError(
                f"a package 'ldm' is already imported from '{origin}', not from '{root / 'ldm'}'; "
                "use one official tree per process (run the benchmark in a fresh process)."
            )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from ldm.modules.diffusionmodules import model as ldm_model
        from ldm.modules.diffusionmodules import openaimodel as ldm_openai
        from ldm.modules.diffusionmodules import util as ldm_util
    except ImportError as exc:
        raise OfficialCodeError(
            f"importing the official modules from '{root}' failed ({exc}); they need torch, numpy, einops "
            "and Pillow (pip install einops pillow)."
        ) from exc
    for module in (ldm_openai, ldm_model, ldm_util):
        where = Path(module.__file__).resolve()
        if root not in where.parents:
            raise OfficialCodeError(
                f"'{module.__name__}' was imported from '{where}', not from '{root}'; another 'ldm' shadows the "
                f"exported tree: re-export with {EXPORT_SCRIPT} {root} (it writes the package __init__.py files)."
            )
    return ldm_openai, ldm_model, ldm_util


@contextlib.contextmanager
def groupnorm_groups(ldm_openai, ldm_model, ldm_util, unet_groups: int, ae_groups: int) -> Iterator[None]:
    """Temporarily make the official constructors build GroupNorms with other group counts.

    The official code hard-codes 32 groups: ``util.normalization`` returns ``GroupNorm32(32, c)``
    (eps 1e-5) and ``model.Normalize(c)`` ``nn.GroupNorm(32, c, eps=1e-6)``. For configurations
    with other counts (the tiny test preset uses 4) the two names are rebound in the official
    modules' namespaces while the networks are built, and restored afterwards; nothing else in
    the official code changes. With 32 groups nothing is patched.
    """
    saved_norm, saved_normalize = ldm_openai.normalization, ldm_model.Normalize
    if unet_groups != OFFICIAL_NORM_GROUPS:
        ldm_openai.normalization = lambda channels: ldm_util.GroupNorm32(unet_groups, channels)
    if ae_groups != OFFICIAL_NORM_GROUPS:
        ldm_model.Normalize = lambda in_channels, num_groups=ae_groups: torch.nn.GroupNorm(
            num_groups=num_groups, num_channels=in_channels, eps=1e-6, affine=True)
    try:
        yield
    finally:
        ldm_openai.normalization, ldm_model.Normalize = saved_norm, saved_normalize
