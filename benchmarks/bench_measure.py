"""Measurement and reporting helpers of the benchmark scripts: timing, Dice, real slices, the
inference table, the JSON result file.

Kept apart from the benchmarks' control flow so that each file has one job; nothing here knows
about the variants being compared.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

OFFICIAL_ROW = "official modules (fp32, eager, batch 1)"


def weights_kind(card) -> str:
    """``"random"`` for a folder written by ``make_random_model.py`` (its card says so), else ``"trained"``.

    Args:
        card: the folder's ``SDSegLogic.model_card.ModelCard``.
    """
    text = f"{getattr(card, 'model_id', '')} {getattr(card, 'task', '')}".lower()
    return "random" if text.startswith("random-") or "random weights" in text else "trained"


def aot_packages_used(summary: Dict[str, object]) -> bool:
    """Whether any AOTInductor package ran, from ``SDSegPipeline.compile_summary``.

    Args:
        summary: per network ``{"status": loaded|built|missing|failed, ...}`` plus plain settings.

    Returns:
        ``False`` when no network's package was loaded or built: the row then ran eager.
    """
    return any(isinstance(entry, dict) and entry.get("status") in ("loaded", "built") for entry in summary.values())


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], object], device, repeats: int, warmup: bool = True) -> float:
    """Best wall time of ``repeats`` calls, in seconds.

    Args:
        fn: the call to time.
        device: ``torch.device`` (CUDA is synchronised around each call).
        repeats: timed calls.
        warmup: make one untimed call first; pass ``False`` when the caller has just made one
            (a second warm-up of the batch-1 paper row costs ~8 s of a GPU step's time limit).
    """
    if warmup:
        fn()
        sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def dice(a, b) -> float:
    inter = float((a & b).sum())
    total = float(a.sum() + b.sum())
    return 1.0 if total == 0 else 2 * inter / total


def mask_dice(probs, truth) -> float:
    """Dice of binary masks, or the mean Dice over foreground classes of argmax label maps."""
    if probs.ndim == 3:
        return dice(probs > 0.5, truth > 0.5)
    labels, reference = probs.argmax(1), truth.argmax(1)
    return sum(dice(labels == k, reference == k) for k in range(1, probs.shape[1])) / (probs.shape[1] - 1)


def real_slices(path: Path, count: int, size: int):
    """``count`` real slices (cycled) from a preprocessed ``.npz`` (key ``images``: (N, 1|3, S, S) in [-1, 1]).

    Faithfulness on trained weights only means something on the images they were trained for:
    random-uniform inputs give soft maps with tiny margins that any rounding flips.
    """
    import numpy as np
    import torch

    try:
        with np.load(path) as data:
            if "images" not in data.files:
                raise SystemExit(f"{path}: no 'images' array; expected (N, 1 or 3, S, S) slices in [-1, 1].")
            stack = np.asarray(data["images"], dtype=np.float32)
    except (OSError, ValueError, EOFError) as exc:
        raise SystemExit(f"{path}: not a readable .npz ({exc}); make one with python -m sdseg_training.prepare_demo_ct.") from None
    if stack.ndim != 4 or stack.shape[2:] != (size, size):
        raise SystemExit(f"{path}: images have shape {stack.shape}; this model needs (N, 1|3, {size}, {size}).")
    stack = torch.from_numpy(stack)
    if stack.shape[1] == 1:
        stack = stack.repeat(1, 3, 1, 1)
    n = stack.shape[0]
    index = torch.linspace(0, n - 1, count).round().long() if count <= n else torch.arange(count) % n
    return stack[index].clamp(-1.0, 1.0).contiguous()


def result_row(name, seconds, slices, device, diff, dice) -> Dict[str, object]:
    import torch

    row = {
        "variant": name,
        "ms_per_slice": round(1000 * seconds / slices, 3),
        "slices_per_s": round(slices / seconds, 2),
        "softmap_max_abs_vs_fp32": None if diff is None else round(diff, 6),
        "mask_dice_vs_fp32": None if dice is None else round(dice, 5),
    }
    if device.type == "cuda":
        row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return row


def with_speedups(rows: List[Dict[str, object]]) -> List[Dict[str, object]]:
    """``rows`` with ``speedup_vs_reference`` (and ``speedup_vs_official``) filled in; the reference is row 0."""
    ref_ms = rows[0]["ms_per_slice"]
    official_ms = next((row["ms_per_slice"] for row in rows if row["variant"] == OFFICIAL_ROW and "error" not in row), None)
    for row in rows:
        if "error" in row:
            continue
        row["speedup_vs_reference"] = round(ref_ms / row["ms_per_slice"], 2)
        if official_ms is not None:
            row["speedup_vs_official"] = round(official_ms / row["ms_per_slice"], 2)
    return rows


def device_info(device) -> Dict[str, object]:
    import torch

    info: Dict[str, object] = {"type": device.type, "cpu": platform.processor() or platform.machine()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, total_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
        try:
            import subprocess

            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True,
                timeout=20,  # a hung driver query must not eat the GPU step's time limit
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            info["driver"] = None
    return info


def print_table(result: Dict[str, object]) -> None:
    rows = result["rows"]
    width = max([len("variant")] + [len(row["variant"]) for row in rows])
    official = any("speedup_vs_official" in row for row in rows)
    print(f"SDSeg inference, preset {result['preset']}, {result['sample_size']}px, device {result['device']}, torch {result['torch']}")
    if result.get("official"):
        info = result["official"]
        print(f"official modules from {info['ldm_root']} (commit {info['commit'] or 'unknown'})")
    extra = f" {'x off':>7}" if official else ""
    print(f"{'variant':<{width}} {'ms/slice':>10} {'slices/s':>9} {'x ref':>7}{extra} {'max|dp|':>9} {'Dice':>7} {'peak MiB':>9}")
    for row in rows:
        if "error" in row:
            print(f"{row['variant']:<{width}} FAILED: {row['error'][:120]}")
            continue
        diff = "-" if row["softmap_max_abs_vs_fp32"] is None else f"{row['softmap_max_abs_vs_fp32']:.2e}"
        dice = "-" if row["mask_dice_vs_fp32"] is None else f"{row['mask_dice_vs_fp32']:.4f}"
        extra = f" {row['speedup_vs_official']:>7.2f}" if official else ""
        print(f"{row['variant']:<{width}} {row['ms_per_slice']:>10.2f} {row['slices_per_s']:>9.2f} {row['speedup_vs_reference']:>7.2f}"
              f"{extra} {diff:>9} {dice:>7} {row.get('peak_gpu_mib', '-')!s:>9}")


def write_result(result: Dict[str, object], out: Optional[Path], default_name: str, quiet: bool = False) -> Path:
    """Write a benchmark's JSON result to ``out``, else ``benchmarks/results/<default_name>``; print the path.

    The file is replaced atomically (a temporary file in the same folder, then a rename), so a
    benchmark rewritten after every row and stopped by a time limit leaves its last complete
    version, never half a file.

    Args:
        result: JSON-serialisable result (other values are written with ``str``).
        out: target file, or ``None`` for the default location.
        default_name: file name under ``benchmarks/results/`` when ``out`` is ``None``.
        quiet: do not print the path (the intermediate writes of a long run).
    """
    import json
    import os
    import tempfile

    target = Path(out) if out else Path(__file__).resolve().parent / "results" / default_name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + target.name + ".", suffix=".tmp", dir=str(target.parent))
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would make the result unreadable to other users
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(result, indent=2, default=str) + "\n")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if not quiet:
        print(f"wrote {target}")
    return target


def synthetic_ct(slices: int, size: int = 512):
    """A CT-like int16 phantom (K, J, I) = (slices, size, size) and its LPS geometry.

    Body ellipse (40 HU) in air (-1000 HU) with an organ-like ellipsoid (+60 HU) and seeded
    Gaussian noise of 20 HU inside the body, so a file of it compresses (and decompresses) like a
    real CT rather than like a constant. Geometry: spacing 0.7 x 0.7 x 2.5 mm (512 grid; scaled for
    other sizes), axial, identity direction.
    """
    import numpy as np

    from SDSegLogic.geometry import ImageGeometry

    scale = size / 512.0
    j, i = np.ogrid[0:size, 0:size]
    body = ((i - 256 * scale) / (200 * scale)) ** 2 + ((j - 256 * scale) / (150 * scale)) ** 2 < 1
    rng = np.random.default_rng(0)
    volume = np.empty((slices, size, size), dtype=np.int16)
    for k in range(slices):  # slice by slice: the phantom's temporaries stay small (peak RSS is reported)
        organ = (((i - 200 * scale) / (60 * scale)) ** 2 + ((j - 250 * scale) / (50 * scale)) ** 2
                 + ((k - slices / 2) / (slices / 3)) ** 2 < 1)
        noise = (rng.standard_normal((size, size), dtype=np.float32) * 20).astype(np.int16)
        volume[k] = np.where(body, 40 + noise, -1000) + np.where(organ, 60, 0)
    spacing = 0.7 / scale
    geometry = ImageGeometry((spacing, spacing, 2.5), (-180.0, -180.0, -300.0), np.eye(3), (size, size, slices))
    return volume, geometry

