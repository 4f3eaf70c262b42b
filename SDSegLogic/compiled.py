"""Ahead-of-time compiled networks: ``torch.export`` + AOTInductor packages, cached on disk.

``torch.compile`` recompiles the three networks in every new process (about 100 s for the paper
model on an H100 cold, ~20 s with a warm inductor cache). An AOTInductor package is a compiled
shared library with the weights inside; loading one takes about a second, so an engine process
that finds its packages in the cache segments its first slice within seconds.

Each network is exported with a dynamic batch axis covering ``[MIN_ROWS, MAX_ROWS]`` rows
(slices x classes). diffusers' resampling blocks branch on ``batch >= 64`` (a workaround for a
channels-last upsampling bug), so one export cannot cover both sides of 64; calls with fewer rows
(a single photo, the tail of a volume) run the eager module instead, as do slices of another size
than the model's training size (the packages are exported for that one size). Both paths compute the same
function; they differ by floating-point reassociation only.

Cache layout: ``<cache_dir>/<component>-<key>.pt2``; the key hashes everything the compiled code
depends on (format version, the torch, diffusers and SDSegLogic versions, device kind and capability (a CPU's vector ISA included),
dtype, memory format, spatial size, the model configuration and a fingerprint of the weights). A package whose key
does not match is never used; a package that fails to load is rebuilt. Packages are written to a
temporary file and renamed into place, so concurrent processes never see half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

from .compile_child import build_in_child, main
from .compiled_partials import open_partial, remove_stale_partials
from .device import exact_fp32
from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .models.sdseg_model import SDSegModel

__all__ = [
    "FORMAT_VERSION",
    "MIN_ROWS",
    "MAX_ROWS",
    "AOTModule",
    "default_cache_dir",
    "weights_fingerprint",
    "package_paths",
    "compile_model_aot",
    "missing_packages",
    "build_in_child",
]

LOG = logging.getLogger(__name__)

FORMAT_VERSION = 1
MIN_ROWS = 64  # diffusers' Upsample2D / ResnetBlock2D branch on batch >= 64: export covers that side
MAX_ROWS = 4096


def default_cache_dir() -> Path:
    """``$SDSEG_HOME/compiled`` or ``~/.sdseg/compiled`` (a relative ``$SDSEG_HOME`` is refused, as for models)."""
    from .registry import sdseg_home

    return sdseg_home() / "compiled"


def weights_fingerprint(module: "torch.nn.Module") -> str:
    """A content fingerprint of a module's parameters and buffers (hex string).

    Per tensor: name, shape, dtype, the float64 sum and sum of squares, and 64 evenly strided
    values. Computed on the tensors' device with a single host transfer, so it costs milliseconds
    even for the 400 M-parameter paper model. Not cryptographic: it tells different trainings
    apart (every weight moves), which is what the cache needs.
    """
    digest = hashlib.sha256()
    stats: List["torch.Tensor"] = []
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
        flat = tensor.detach().reshape(-1)
        if flat.numel() == 0:
            continue
        if not (flat.is_floating_point() or flat.is_complex()):
            flat = flat.to(torch.float64)
        step = max(1, flat.numel() // 64)
        sample = flat[::step][:64].to(torch.float64)
        wide = flat.to(torch.float64)
        stats.append(torch.cat([wide.sum()[None], (wide * wide).sum()[None], sample]))
    if stats:
        digest.update(torch.cat(stats).cpu().numpy().tobytes())
    return digest.hexdigest()


def _device_tag(device: "torch.device") -> str:
    """The hardware a package was compiled for: GPU model and compute capability, or the CPU's architecture and the
    vector ISA torch dispatches to (``AVX512``, ``AVX2``, ``DEFAULT``...; a package built with AVX-512 kernels stops
    with an illegal instruction on an AVX2 host sharing the cache). The ISA is read at call time, so
    ``ATEN_CPU_CAPABILITY`` (which lowers it) gives another key."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        return f"cuda-sm{major}{minor}-{torch.cuda.get_device_name(index)}-cuda{torch.version.cuda}"
    return f"{device.type}-{platform.machine()}-{torch.backends.cpu.get_cpu_capability()}"


def _cache_key(component: str, model: "SDSegModel", module: "torch.nn.Module", device: "torch.device",
               example: Sequence["torch.Tensor"], channels_last: bool) -> str:
    """24 hex digits naming one package; read at call time, so an upgraded library never reuses an old package.

    The versions of torch (the compiler), diffusers (the networks' forward code that was traced) and
    SDSegLogic (the wrappers exported around them) are part of it.
    """
    import diffusers

    from . import __version__ as sdseg_version

    parts = {
        "format": FORMAT_VERSION,
        "component": component,
        "torch": str(torch.__version__),
        "diffusers": str(diffusers.__version__),
        "sdseglogic": str(sdseg_version),
        "device": _device_tag(device),
        "inputs": [[list(t.shape[1:]), str(t.dtype)] for t in example],
        "channels_last": bool(channels_last),
        "rows": [MIN_ROWS, MAX_ROWS],
        "config": model.config.to_dict(),
        "weights": weights_fingerprint(module),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class AOTModule(torch.nn.Module):
    """Calls an AOTInductor package for batches it covers and the eager module otherwise.

    A drop-in replacement for the network it wraps (same call signature and return type).

    Args:
        package: the loaded package (callable on tensors), or ``None`` to always run eagerly.
        eager: the original module.
        memory_format: layout the package was exported with (inputs are converted to it).
        unet_output: the diffusers UNet convention: ``(sample, timestep, class_labels=...)`` in,
            an object with ``.sample`` out.
        name: component name (for messages).
        row_shape: the shape of one row of the first input the package was exported for, e.g.
            ``(3, 256, 256)``; other shapes (the pipeline takes any multiple of its input
            multiple, not only the training size) run the eager module. ``None``: not checked.
    """

    def __init__(self, package: Optional[Callable], eager: "torch.nn.Module", memory_format: "torch.memory_format",
                 unet_output: bool, name: str, row_shape: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        self.row_shape = None if row_shape is None else tuple(int(n) for n in row_shape)
        self.eager = eager
        self.package = package
        self.memory_format = memory_format
        self.unet_output = unet_output
        self.name = name
        self.compiled_calls = 0
        self.eager_calls = 0

    def covers(self, rows: int, row_shape: Optional[Sequence[int]] = None) -> bool:
        """Whether a call with ``rows`` batch rows, each of ``row_shape`` (not checked when None), runs the package."""
        shape_ok = row_shape is None or self.row_shape is None or tuple(row_shape) == self.row_shape
        return self.package is not None and MIN_ROWS <= rows <= MAX_ROWS and shape_ok

    def forward(self, first: "torch.Tensor", *args, **kwargs):
        rows = first.shape[0]
        if not self.covers(rows, first.shape[1:]):
            self.eager_calls += 1
            return self.eager(first, *args, **kwargs)
        self.compiled_calls += 1
        if not self.unet_output:
            return self.package(first.contiguous(memory_format=self.memory_format))
        timestep = args[0] if args else kwargs["timestep"]
        timestep = timestep.reshape(-1).expand(rows).contiguous() if timestep.numel() == 1 else timestep
        inputs = [first.contiguous(memory_format=self.memory_format), timestep]
        labels = kwargs.get("class_labels", args[1] if len(args) > 1 else None)
        if labels is not None:
            inputs.append(labels)
        return SimpleNamespace(sample=self.package(*inputs))


def _unet_wrapper(unet: "torch.nn.Module", with_labels: bool) -> "torch.nn.Module":
    class UNetEpsilon(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, class_labels=None):  # noqa: D401 - export signature
            return self.unet(sample, timestep, class_labels=class_labels).sample

    class UNetEpsilonBinary(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep):
            return self.unet(sample, timestep).sample

    return UNetEpsilon() if with_labels else UNetEpsilonBinary()


def _components(model: "SDSegModel", device: "torch.device", dtype: "torch.dtype", unet_dtype: "torch.dtype",
                memory_format: "torch.memory_format") -> List[Tuple[str, "torch.nn.Module", "torch.nn.Module", List["torch.Tensor"], bool]]:
    """(name, module to export, eager module to replace, example inputs, unet convention) per network."""
    cfg = model.config
    rows = MIN_ROWS
    size = cfg.sample_size
    image = torch.zeros(rows, 3, size, size, device=device, dtype=dtype).contiguous(memory_format=memory_format)
    with torch.inference_mode():
        condition = model.condition_encoder(image[:1])
    latent = condition.shape[2]
    latent_channels = cfg.latent_channels
    sample = torch.zeros(rows, latent_channels + condition.shape[1], latent, latent, device=device, dtype=unet_dtype)
    sample = sample.contiguous(memory_format=memory_format)
    timestep = torch.full((rows,), 999, device=device, dtype=torch.long)
    classes = cfg.unet.num_classes
    unet_inputs = [sample, timestep]
    if classes:
        unet_inputs.append(torch.arange(rows, device=device) % classes)
    z = torch.zeros(rows, latent_channels, latent, latent, device=device, dtype=dtype).contiguous(memory_format=memory_format)
    items = [
        ("condition_encoder", model.condition_encoder, model.condition_encoder, [image], False),
        ("unet", _unet_wrapper(model.unet, bool(classes)), model.unet, unet_inputs, True),
        ("decoder", model.autoencoder.decoder, model.autoencoder.decoder, [z], False),
    ]
    if model.fast_decoder is not None:
        items.append(("fast_decoder", model.fast_decoder, model.fast_decoder, [z], False))
    return items


def _build_package(module: "torch.nn.Module", example: List["torch.Tensor"], target: Path) -> None:
    """torch.export with a dynamic batch axis, AOTInductor compile, atomic rename to ``target``."""
    batch = torch.export.Dim("rows", min=MIN_ROWS, max=MAX_ROWS)
    dynamic = tuple({0: batch} for _ in example)
    with torch.inference_mode(False), torch.no_grad():
        exported = torch.export.export(module, tuple(example), dynamic_shapes=dynamic)
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(target.parent)  # what killed builds left; never a live build's file
        fd, tmp = open_partial(target)  # locked while this build lives
        try:
            torch._inductor.aoti_compile_and_package(exported, package_path=tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
            os.close(fd)


def compile_model_aot(
    model: "SDSegModel",
    device: "torch.device",
    dtype: "torch.dtype",
    unet_dtype: "torch.dtype",
    channels_last: bool,
    cache_dir: Union[str, Path, None] = None,
    build: bool = True,
    report: Optional[Callable[[str], None]] = None,
    known_paths: Optional[Dict[str, Path]] = None,
) -> Dict[str, object]:
    """Replace the model's networks by AOT-compiled packages, building missing ones.

    Args:
        model: the model, already on ``device`` in its inference dtypes and memory format.
        device, dtype, unet_dtype, channels_last: how the pipeline runs it.
        cache_dir: package folder (default :func:`default_cache_dir`).
        build: compile packages that are missing (minutes for the paper model on a GPU); with
            ``False`` missing packages leave their network eager.
        report: receives one line per step (build/load times).
        known_paths: the result of :func:`package_paths` for exactly this set-up, when the
            caller already has it (saves fingerprinting the weights a second time).

    Returns:
        A summary: per component ``{"path", "status": loaded|built|missing|failed: why, "seconds"}``; a cached
        package that does not load is rebuilt, or with ``build=False`` is ``failed: cached package did not load ...``.

    Raises:
        ConfigError: this torch has no AOTInductor (``torch._inductor.aoti_load_package``).
    """
    if not hasattr(torch._inductor, "aoti_load_package"):
        raise ConfigError(
            f"torch {torch.__version__} has no AOTInductor packages; upgrade torch (>= 2.6) or use backend='inductor'."
        )
    say = report or LOG.info
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    summary: Dict[str, object] = {"cache_dir": str(folder), "min_rows": MIN_ROWS, "max_rows": MAX_ROWS}
    for name, export_module, eager, example, unet_style in _components(model, device, dtype, unet_dtype, memory_format):
        if known_paths is not None and name in known_paths:
            path = Path(known_paths[name])
        else:
            path = folder / f"{name}-{_cache_key(name, model, export_module, device, example, channels_last)}.pt2"
        start = time.perf_counter()
        status, package = "missing", None
        if path.exists():
            try:
                package = torch._inductor.aoti_load_package(str(path))
                status = "loaded"
            except Exception as exc:  # a package from a broken build or another toolchain: rebuild it
                package = None
                if not build:  # kept: the failure may be passing (out of GPU memory); say how to rebuild it
                    status = f"failed: cached package did not load: {type(exc).__name__}: {str(exc)[:300]}"
                say(f"compiled {name}: cached package {path} failed to load ({exc}); "
                    + ("rebuilding" if build else "this network stays eager; delete the file to have it rebuilt"))
        if package is None and build:
            say(f"compiling {name} ahead of time (once per model, precision and GPU; cached in {folder})")
            try:
                with exact_fp32(device.type == "cuda" and unet_style and unet_dtype == torch.float32):
                    _build_package(export_module, example, path)  # no TF32 baked into an fp32 UNet's kernels
                package = torch._inductor.aoti_load_package(str(path))
                status = "built"
            except Exception as exc:
                status = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
                say(f"compiled {name}: {status}; this network stays eager")
                package = None
        seconds = time.perf_counter() - start
        summary[name] = {"path": str(path), "status": status, "seconds": round(seconds, 3)}
        say(f"compiled {name}: {status} in {seconds:.1f} s")
        wrapper = AOTModule(package, eager, memory_format, unet_style, name, row_shape=example[0].shape[1:])
        if name == "condition_encoder":
            model.condition_encoder = wrapper
        elif name == "unet":
            model.unet = wrapper
        elif name == "decoder":
            model.autoencoder.decoder = wrapper
        else:
            model.fast_decoder = wrapper
    return summary


def package_paths(model: "SDSegModel", device: "torch.device", dtype: "torch.dtype", unet_dtype: "torch.dtype",
                  channels_last: bool, cache_dir: Union[str, Path, None] = None) -> Dict[str, Path]:
    """Network name -> the cache path of its package for exactly this model and set-up (existing or not)."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return {name: folder / f"{name}-{_cache_key(name, model, export_module, device, example, channels_last)}.pt2"
            for name, export_module, _, example, _ in _components(model, device, dtype, unet_dtype, memory_format)}


def missing_packages(model: "SDSegModel", device: "torch.device", dtype: "torch.dtype", unet_dtype: "torch.dtype",
                     channels_last: bool, cache_dir: Union[str, Path, None] = None,
                     paths: Optional[Dict[str, Path]] = None) -> List[str]:
    """Names of the networks whose package for exactly this model and set-up is not in the cache, or is not whole.

    ``paths`` (from :func:`package_paths`) skips computing the cache keys again.
    """
    paths = paths if paths is not None else package_paths(model, device, dtype, unet_dtype, channels_last, cache_dir)
    return [name for name, path in paths.items() if not _intact(path)]


def _intact(path: Path) -> bool:
    """Whether ``path`` is a whole package file: an AOTInductor ``.pt2`` is a zip archive, and a file cut short
    (a full disk, a copy that stopped) or overwritten lacks the archive's closing directory. Such a file counts as
    missing, so ``--compile aot`` builds it again instead of loading it, failing and staying eager for ever."""
    import zipfile

    return path.is_file() and zipfile.is_zipfile(path)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    raise SystemExit(main())
