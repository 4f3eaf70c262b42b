"""Device and precision choice: ``auto`` picks CUDA when present, with the faithful precision."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Optional, Union

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["device_spelling", "resolve_device", "default_dtype", "default_unet_dtype", "parse_dtype", "describe_devices", "exact_fp32",
           "cpu_has_native_bf16", "cpu_has_native_fp16", "slow_cpu_bf16_note", "slow_cpu_dtype_note"]

_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def device_spelling(device: str) -> str:
    """``device`` as SDSeg spells device names: no surrounding blanks, lower case (``" CPU "`` is ``"cpu"``).

    The one spelling rule: :func:`resolve_device` reads names with it, and the Slicer extension
    checks names and keys its warm engine on it (``"CPU"`` after ``"cpu"`` reuses the engine).
    """
    return device.strip().lower()


def resolve_device(device: Union[str, int, "torch.device", None] = "auto", cuda_devices: Optional[int] = None,
                   mps_available: Optional[bool] = None) -> "torch.device":
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device`` into a usable device.

    Names are case-insensitive and may carry surrounding blanks (``"CPU"``, ``" cuda:0 "``); an
    integer N means ``cuda:N``. Only devices that exist here are returned, so a wrong choice fails
    now with a message instead of deep inside PyTorch when the model is moved.

    Args:
        device: the choice; ``None`` means ``"auto"`` (CUDA when present, else the CPU).
        cuda_devices: number of CUDA devices (default: asked from PyTorch; tests pass a count).
        mps_available: whether Apple's MPS backend works here (default: asked from PyTorch).

    Raises:
        InputError: an unknown device name, CUDA or MPS asked for where it is not available, or a
            CUDA index beyond the devices present; the message names the value and what to use.
    """
    import torch

    if cuda_devices is None:
        cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if mps_available is None:
        mps_available = _mps_available()
    if device is None:
        device = "auto"
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise InputError(f"device {device!r} must be a name such as 'auto', 'cpu', 'cuda' or 'cuda:0'.")
    text = f"cuda:{device}" if isinstance(device, int) else device_spelling(str(device))
    if text == "auto":
        return torch.device("cuda" if cuda_devices > 0 else "cpu")
    kind, sep, index = text.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (sep and not index.isdigit()):
        raise InputError(f"device {str(device)!r} is not one of auto, cpu, cuda, cuda:N (N = 0, 1, ...) or mps; "
                         f"{_choices(cuda_devices, mps_available)}")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not mps_available:
            raise InputError(f"device {str(device)!r} was requested but Apple MPS is not available here (it needs macOS "
                             f"on Apple silicon and a PyTorch built with MPS); {_choices(cuda_devices, mps_available)}")
        return torch.device("mps")
    if cuda_devices == 0:
        raise InputError(f"device {str(device)!r} was requested but CUDA is not available here; use --device cpu or auto.")
    if sep and int(index) >= cuda_devices:
        raise InputError(f"device {str(device)!r} was requested but this machine has {cuda_devices} CUDA device(s), "
                         f"numbered from 0; {_choices(cuda_devices, mps_available)}")
    return torch.device(f"cuda:{int(index)}" if sep else "cuda")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    try:
        return bool(backend is not None and backend.is_available())
    except RuntimeError:
        return False


def _choices(cuda_devices: int, mps_available: bool) -> str:
    """The devices that work here, as a remedy: ``"use auto, cpu, cuda or cuda:0 .. cuda:1."``."""
    names = ["auto", "cpu"]
    if cuda_devices > 0:
        names += ["cuda", "cuda:0" if cuda_devices == 1 else f"cuda:0 .. cuda:{cuda_devices - 1}"]
    if mps_available:
        names.append("mps")
    return f"use {', '.join(names[:-1])} or {names[-1]}."


def default_dtype(device: "torch.device") -> "torch.dtype":
    """Vision encoder and decoder precision: fp16 on CUDA (the official evaluation ran under fp16
    autocast; fp16 is ~8x more accurate than bf16 at the same speed), fp32 on the CPU. The UNet
    has its own default, :func:`default_unet_dtype`."""
    import torch

    return torch.float16 if device.type == "cuda" else torch.float32


def default_unet_dtype(device: "torch.device") -> Optional["torch.dtype"]:
    """UNet precision when the caller chose none: fp32 on CUDA, else the network dtype (``None``).

    The single step computes z0 = 38.67 z_T - 38.66 eps_hat, so the UNet's rounding error is
    amplified ~39x. Measured on the trained demo model with real CT slices (H200, 2026-11-25,
    ``benchmarks/RESULTS.md``): an all-fp16 network moved soft maps by up to 0.077 (mask Dice 0.989
    vs fp32), fp16 encoder/decoder with an fp32 UNet by 0.0066 (Dice 0.998): only the latter meets
    the faithfulness bar (0.02, 0.995). The UNet is ~5 % of the FLOPs, so this costs little.
    """
    import torch

    return torch.float32 if device.type == "cuda" else None


def parse_dtype(dtype: Union[str, "torch.dtype", None]) -> Optional["torch.dtype"]:
    """Accept a ``torch.dtype`` or a name such as ``"fp16"``; ``None``/``"auto"`` give ``None``.

    Raises:
        InputError: a name or a ``torch.dtype`` other than float32, float16 or bfloat16 (an integer
            dtype would fail inside ``nn.Module.to``; float64 is refused by object as by name).
    """
    import torch

    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise InputError(f"dtype {str(dtype).replace('torch.', '')} is not supported; use float32, float16 or "
                             "bfloat16.")
        return dtype
    if str(dtype) == "auto":
        return None
    try:
        return getattr(torch, _DTYPES[str(dtype).lower()])
    except KeyError:
        raise InputError(f"dtype {dtype!r} is not supported; use float32, float16 or bfloat16.") from None


def cpu_has_native_bf16() -> bool:
    """True when oneDNN runs bf16 convolutions and matmuls natively on this CPU (AVX512 and newer).

    On AVX2-only CPUs PyTorch falls back to a reference bf16 path: on a 2-core AMD EPYC (AVX2,
    torch 2.13, 2026-12-06) a 2048 x 2048 bf16 matmul ran at 0.3 GFLOP/s against 144 GFLOP/s in fp32.
    """
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def slow_cpu_bf16_note(device: "torch.device", uses_bf16: bool, remedy: str) -> Optional[str]:
    """A warning when bf16 would run emulated on this CPU (tens of times slower than fp32), else None.

    Args:
        device: where the networks run.
        uses_bf16: whether the chosen precision runs any network in bf16.
        remedy: what to change, e.g. ``"use --precision auto (fp32 on the CPU)"``.
    """
    if device.type != "cpu" or not uses_bf16 or cpu_has_native_bf16():
        return None
    import torch

    return (f"bf16 runs emulated on this CPU (capability {torch.backends.cpu.get_cpu_capability()}, no native bf16): "
            f"it can be tens of times slower than fp32; {remedy}.")


def cpu_has_native_fp16() -> bool:
    """True when oneDNN runs fp16 convolutions natively on this CPU (AVX512-FP16 or AMX-FP16).

    Elsewhere fp16 runs emulated: on a 2-core AMD EPYC with AVX512 and native bf16 (torch 2.13,
    2026-12-07) a 128-channel 3x3 convolution at 64 x 64 took 9.5 s in fp16 against 0.085 s in fp32.
    """
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        return False


def slow_cpu_dtype_note(device: "torch.device", dtypes, remedy: str) -> Optional[str]:
    """A warning when a chosen half precision would run emulated on this CPU, else None.

    Args:
        device: where the networks run.
        dtypes: the precisions the networks run in (e.g. ``{pipeline.dtype, pipeline.unet_dtype}``).
        remedy: what to change, e.g. ``"use --precision auto (fp32 on the CPU)"``.

    Returns:
        One sentence naming each emulated precision (fp16 without AVX512-FP16/AMX-FP16, bf16
        without native bf16), its slowdown and ``remedy``; None on a GPU or when all run natively.
    """
    import torch

    if device.type != "cpu":
        return None
    chosen = set(dtypes)
    slow = [name for name, dtype, native in (("fp16", torch.float16, cpu_has_native_fp16),
                                             ("bf16", torch.bfloat16, cpu_has_native_bf16))
            if dtype in chosen and not native()]
    if not slow:
        return None
    return (f"{' and '.join(slow)} run{'s' if len(slow) == 1 else ''} emulated on this CPU (capability "
            f"{torch.backends.cpu.get_cpu_capability()}, no native {'/'.join(slow)}): it can be tens to a hundred "
            f"times slower than fp32; {remedy}.")


def describe_devices() -> dict:
    """What compute is available: CPU threads and, per CUDA device, its name and memory in GiB."""
    import os

    import torch

    info = {"cpu_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "cuda": []}
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            free, total = torch.cuda.mem_get_info(index)
            info["cuda"].append(
                {"index": index, "name": props.name, "total_gib": round(total / 2**30, 2), "free_gib": round(free / 2**30, 2)}
            )
    return info


@contextlib.contextmanager
def exact_fp32(active: bool):
    """Disable TensorFloat-32 while an fp32 UNet runs on CUDA.

    PyTorch lets cuDNN convolutions use TF32 by default: a 10-bit mantissa, as coarse as fp16, which
    the single step would amplify ~39x - exactly what keeping the UNet in fp32 is meant to avoid.
    The flags are restored afterwards (the vision encoder and decoder are not affected).
    """
    if not active:
        yield
        return
    import torch

    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul
