"""Inference speed of SDSeg: the official-style reference path against the engine's levers.

One run measures, on one device and with the same weights:

* ``reference``: what the official evaluation loop does: fp32, eager, one slice per call, a
  fresh noise draw per slice (TF32 disabled on CUDA, so it is true fp32);
* engine variants, one lever at a time: batching, channels_last, fp16/bf16 weights,
  ``torch.compile`` (and its on-disk cache), on top of each other;
* for every variant: ms/slice, slices/s, peak GPU memory, and faithfulness against the
  fp32 engine output: max |soft-map difference| and Dice of the thresholded masks.

Usage::

    python benchmarks/bench_inference.py --smoke                  # tiny model on the CPU (CI)
    python benchmarks/bench_inference.py --preset lite --device cpu --slices 16
    python benchmarks/bench_inference.py --preset paper --device cuda --slices 256 --compile

Weights are random unless ``--model DIR`` points at a trained model folder (faithfulness on
trained weights is what counts for the precision levers). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device, repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up, in seconds."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _dice(a, b) -> float:
    inter = float((a & b).sum())
    total = float(a.sum() + b.sum())
    return 1.0 if total == 0 else 2 * inter / total


def _mask_dice(probs, truth) -> float:
    """Dice of binary masks, or the mean Dice over foreground classes of argmax label maps."""
    if probs.ndim == 3:
        return _dice(probs > 0.5, truth > 0.5)
    labels, reference = probs.argmax(1), truth.argmax(1)
    return sum(_dice(labels == k, reference == k) for k in range(1, probs.shape[1])) / (probs.shape[1] - 1)


def reference_loop(model, images, device):
    """Official style: fp32, eager, one slice per call, one noise draw per slice, classes one by one."""
    import torch

    from SDSegLogic.schedulers import NoiseSchedule

    sched = NoiseSchedule(model.config.schedule)
    classes = model.config.unet.num_classes
    maps = []
    with torch.no_grad():
        for image in images:
            x = image[None].to(device)
            cond = model.encode_condition(x)
            z_t = torch.randn(cond.shape, device=device)
            per_class = []
            for k in range(classes or 1):
                label = None if classes is None else torch.tensor([k], device=device)
                eps = model.predict_noise(z_t, cond, torch.tensor([999], device=device), label)
                z0 = sched.predict_original(z_t, eps, torch.tensor([999]))
                decoded = model.decode_latent(z0)
                per_class.append(model.soft_map(decoded) if classes is None else decoded.mean(1))
            if classes is None:
                maps.append(per_class[0].cpu())
            else:
                logits = torch.cat(per_class)[None]
                logits[:, 0] = -logits[:, 0]
                maps.append(torch.softmax(logits, 1).cpu())
    return torch.cat(maps)


def run(args: argparse.Namespace) -> Dict[str, object]:
    import torch

    from SDSegLogic.config import preset
    from SDSegLogic.device import resolve_device
    from SDSegLogic.models import SDSegModel
    from SDSegLogic.pipeline import SDSegPipeline

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    if args.model:
        from SDSegLogic.model_folder import load_model_folder

        base, _ = load_model_folder(args.model)
    else:
        base = SDSegModel(preset(args.preset)).eval()
    size = base.config.sample_size
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(args.slices, 3, size, size, generator=gen) * 2 - 1

    def fresh(dtype, channels_last=False, compile_mode=None, unet_dtype=None):
        model = SDSegModel(base.config)
        model.load_state_dict(base.state_dict())
        pipe = SDSegPipeline(model, None, device=device, dtype=dtype, channels_last=channels_last, unet_dtype=unet_dtype)
        if compile_mode:
            pipe.compile(mode=compile_mode)
        return pipe

    def engine_fn(pipe, batch):
        def call():
            out = []
            for chunk in images.split(batch):
                out.append(pipe(chunk, seed=0).probabilities)
            return torch.cat(out)
        return call

    rows: List[Dict[str, object]] = []
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    ref_model = SDSegModel(base.config)
    ref_model.load_state_dict(base.state_dict())
    ref_model = ref_model.to(device).eval()
    ref_images = images[: args.reference_slices]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = _time(functools.partial(reference_loop, ref_model, ref_images, device), device, args.repeats)
    rows.append(_row("reference (official style: fp32, eager, batch 1)", seconds, len(ref_images), device, None, None))
    ref_model = None  # free its memory before the engine variants

    fp32 = fresh(torch.float32)
    truth = engine_fn(fp32, args.batch)()
    # (name, dtype, channels_last, compile mode, batch, unet dtype)
    variants = [("engine fp32, batch 1", torch.float32, False, None, 1, None),
                (f"engine fp32, batch {args.batch}", torch.float32, False, None, args.batch, None),
                (f"engine fp32 + channels_last, batch {args.batch}", torch.float32, True, None, args.batch, None)]
    low = [torch.float16] if device.type == "cuda" else []
    low.append(torch.bfloat16)
    for dtype in low:
        variants.append((f"engine {str(dtype)[6:]} + channels_last, batch {args.batch}", dtype, True, None, args.batch, None))
    variants.append((f"engine bf16 encoder/decoder + fp32 UNet + channels_last, batch {args.batch}", torch.bfloat16, True, None,
                     args.batch, torch.float32))
    if args.compile:
        dtype = torch.float16 if device.type == "cuda" else torch.float32
        variants.append((f"engine {str(dtype)[6:]} + channels_last + compile({args.compile}), batch {args.batch}", dtype, True,
                         args.compile, args.batch, None))
    for name, dtype, cl, mode, batch, unet_dtype in variants:
        pipe = fresh(dtype, cl, mode, unet_dtype)
        call = engine_fn(pipe, batch)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        compile_start = time.perf_counter()
        probs = call()  # warm-up (and compilation)
        _sync(device)
        warm = time.perf_counter() - compile_start
        seconds = _time(call, device, args.repeats)
        diff = float((probs - truth).abs().max())
        dice = _mask_dice(probs, truth)
        row = _row(name, seconds, args.slices, device, diff, dice)
        row["first_call_s"] = round(warm, 3)
        rows.append(row)
        del pipe
    ref_ms = rows[0]["ms_per_slice"]
    for row in rows:
        row["speedup_vs_reference"] = round(ref_ms / row["ms_per_slice"], 2)
    return {
        "benchmark": "sdseg-inference",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "preset": base.config.preset if not args.model else str(args.model),
        "sample_size": size,
        "slices": args.slices,
        "reference_slices": len(ref_images),
        "device": _device_info(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "parameters": base.parameter_counts(),
        "weights": "trained" if args.model else "random",
        "rows": rows,
    }


def _row(name, seconds, slices, device, diff, dice) -> Dict[str, object]:
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


def _device_info(device) -> Dict[str, object]:
    import torch

    info: Dict[str, object] = {"type": device.type, "cpu": platform.processor() or platform.machine()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, total_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
        try:
            import subprocess

            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
            ).stdout.strip()
        except OSError:
            info["driver"] = None
    return info


def print_table(result: Dict[str, object]) -> None:
    print(f"SDSeg inference, preset {result['preset']}, {result['sample_size']}px, device {result['device']}, torch {result['torch']}")
    print(f"{'variant':<62} {'ms/slice':>10} {'slices/s':>9} {'x ref':>7} {'max|dp|':>9} {'Dice':>7}")
    for row in result["rows"]:
        diff = "-" if row["softmap_max_abs_vs_fp32"] is None else f"{row['softmap_max_abs_vs_fp32']:.2e}"
        dice = "-" if row["mask_dice_vs_fp32"] is None else f"{row['mask_dice_vs_fp32']:.4f}"
        print(f"{row['variant']:<62} {row['ms_per_slice']:>10.2f} {row['slices_per_s']:>9.2f} {row['speedup_vs_reference']:>7.2f} {diff:>9} {dice:>7}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model, 4 slices, CPU: a seconds-long check for CI")
    parser.add_argument("--preset", default="paper", choices=["paper", "lite", "tiny"])
    parser.add_argument("--model", type=Path, help="trained model folder (overrides --preset)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--reference-slices", type=int, default=8, help="slices timed on the slow reference path")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", nargs="?", const="default", default=None, help="add a torch.compile variant (mode)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON result")
    args = parser.parse_args(argv)
    if args.smoke:
        args.preset, args.model, args.slices, args.reference_slices, args.batch, args.repeats = "tiny", None, 4, 2, 4, 1
        args.device = "cpu"
    result = run(args)
    print_table(result)
    out = args.json or ROOT / "benchmarks" / "results" / f"inference-{result['preset']}-{result['device']['type']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
