"""How a pipeline gets compiled: ``torch.compile`` (just in time) or cached AOT packages.

:meth:`SDSegPipeline.compile` and :meth:`SDSegPipeline.apply_compile_policy` delegate here; the
AOT machinery itself is :mod:`SDSegLogic.compiled`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import SDSegPipeline

__all__ = ["COMPILE_POLICIES", "compile_pipeline", "apply_policy", "compiled_rows"]

COMPILE_POLICIES = ("auto", "aot", "off")
"""``--compile`` choices: use cached compiled kernels / build missing ones first / stay eager."""


def compile_pipeline(pipe: "SDSegPipeline", mode: str, cache_dir: Optional[Union[str, Path]], backend: str,
                     build: bool) -> dict:
    """Compile ``pipe``'s networks in place (see :meth:`SDSegPipeline.compile`); returns the summary."""
    import torch

    if backend == "aot":
        from .compiled import compile_model_aot

        return compile_model_aot(pipe.model, pipe.device, pipe.dtype, pipe.unet_dtype, pipe.channels_last,
                                 cache_dir=cache_dir, build=build)
    if backend != "inductor":
        raise ConfigError(f"compile backend {backend!r} is unknown; use 'inductor' or 'aot'.")
    if cache_dir is None:
        from .registry import sdseg_home  # an absolute $SDSEG_HOME, or a clear refusal

        cache_dir = sdseg_home() / "inductor-cache"
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    model = pipe.model
    model.condition_encoder = torch.compile(model.condition_encoder, mode=mode, dynamic=False)
    model.unet = torch.compile(model.unet, mode=mode, dynamic=False)
    model.autoencoder.decoder = torch.compile(model.autoencoder.decoder, mode=mode, dynamic=False)
    if model.fast_decoder is not None:
        model.fast_decoder = torch.compile(model.fast_decoder, mode=mode, dynamic=False)
    return {"backend": "inductor", "mode": mode, "cache_dir": str(cache_dir)}


def apply_policy(pipe: "SDSegPipeline", policy: str, report: Optional[Callable[[str], None]] = None) -> Optional[dict]:
    """The ``--compile auto|aot|off`` choice (see :meth:`SDSegPipeline.apply_compile_policy`).

    Returns:
        The compile summary, or ``None`` when the pipeline stays eager without looking at a cache.
    """
    if policy not in COMPILE_POLICIES:
        raise ConfigError(f"compile policy {policy!r} is unknown; use auto, aot or off.")
    if policy == "off" or (policy == "auto" and pipe.device.type != "cuda"):
        return None
    from .compiled import build_in_child, compile_model_aot, missing_packages, package_paths

    setup = (pipe.device, pipe.dtype, pipe.unet_dtype, pipe.channels_last)
    build = policy == "aot"
    child_code = None
    paths = None
    if build and pipe.source_folder is not None:
        # Build in a child process: a crash while compiling must not take this process down.
        paths = package_paths(pipe.model, *setup)  # the weights are fingerprinted once for both steps
        if missing_packages(pipe.model, *setup, paths=paths):
            child_code = build_in_child(pipe.source_folder, *setup, variant=pipe.source_variant, report=report)
        build = False
    summary = compile_model_aot(pipe.model, *setup, build=build, report=report, known_paths=paths)
    if child_code is not None:
        summary["child_exit_code"] = child_code
    return summary


def compiled_rows(summary: Optional[dict]) -> Optional[int]:
    """Smallest call (slices x classes) that runs compiled code under ``summary``, or ``None``."""
    from .compiled import MIN_ROWS

    statuses = [v.get("status") for v in (summary or {}).values() if isinstance(v, dict)]
    return MIN_ROWS if any(s in ("loaded", "built") for s in statuses) else None
