"""Training-step speed: steps/s and peak memory, mixed precision vs an fp32 reference, one run.

Each mode runs the real stage-2 step (frozen autoencoder encode, tau_theta + UNet forward and
backward, AdamW, EMA update) on random data of the preset's size::

    python training/benchmarks/train_speed.py --preset paper --batch-size 4 --json speed.json
    python training/benchmarks/train_speed.py --smoke --json smoke.json      # tiny, CPU, CI

Modes: ``fp32`` (reference; TF32 disabled on CUDA for a true fp32 number), ``tf32`` (CUDA only:
fp32 weights with TensorFloat-32 matrix products and convolutions), ``amp`` (fp16
autocast on CUDA, bf16 autocast on the CPU; fp32 master weights) and ``amp+channels_last`` (the
same autocast with the networks and the input batches in ``torch.channels_last`` memory format).
The report gives each mode's speed-up over fp32 (``speedup_vs_fp32``). Peak memory: CUDA
``max_memory_allocated`` per mode; on the CPU the process peak RSS after each mode (monotonic, so
the first mode's figure is the cleaner one). ``--modes`` picks a subset (fp32 always runs first
as the reference).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "training"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


MODES = ("fp32", "tf32", "amp", "amp+channels_last")


def run_mode(preset_name: str, batch: int, steps: int, warmup: int, amp: bool, device: torch.device, size: int,
             channels_last: bool = False) -> dict:
    """Time ``steps`` training steps (after ``warmup``) of one precision / memory-format mode."""
    from SDSegLogic.config import preset
    from SDSegLogic.models.sdseg_model import SDSegModel
    from SDSegLogic.schedulers import NoiseSchedule

    from sdseg_training.ema import EMA
    from sdseg_training.losses import sdseg_loss
    from sdseg_training.trainer import Denoiser

    gc.collect()  # the previous mode's model and optimizer sit in reference cycles: free them before this mode's peak
    if device.type == "cuda":
        torch.cuda.empty_cache()
    torch.manual_seed(0)
    cfg = preset(preset_name)
    if size:
        cfg = cfg.replace(sample_size=size)
    with torch.device(device):  # random weights made where they run (the paper preset: ~10 s less per mode on a GPU)
        model = SDSegModel(cfg)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.autoencoder.requires_grad_(False).eval()
    den = Denoiser(model.condition_encoder, model.unet).train()
    opt = torch.optim.AdamW(den.parameters(), lr=4e-5, weight_decay=0.01)
    ema = EMA(model.unet, 0.9999)
    schedule = NoiseSchedule(cfg.schedule)
    s = cfg.sample_size
    image = (torch.rand(batch, 3, s, s, device=device) * 2 - 1).contiguous(memory_format=fmt)
    mask = ((torch.rand(batch, 1, s, s, device=device) > 0.5).float().repeat(1, 3, 1, 1) * 2 - 1).contiguous(memory_format=fmt)
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(i)
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=amp):
            z0 = model.autoencoder.encode(mask).latent_dist.sample() * 0.12
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            loss = sdseg_loss(den, schedule, z0.float(), image, None, gen)["loss"]
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        ema.update(model.unet)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mean = sum(times) / len(times)
    name = f"amp-{str(dtype).split('.')[-1]}" if amp else "fp32"
    return {"mode": name + ("+channels_last" if channels_last else ""), "steps": steps, "seconds_per_step": mean,
            "steps_per_second": 1.0 / mean, "samples_per_second": batch / mean,
            "peak_memory_mib": round(peak, 1), "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda" else "process_peak_rss",
            "final_loss": float(loss.detach())}


def _row_text(result: dict, reference: dict) -> str:
    """One line for people: ms/step, samples/s, speed-up over the fp32 reference, peak memory."""
    speedup = reference["seconds_per_step"] / result["seconds_per_step"]
    return (f"{result['mode']:>28}: {result['seconds_per_step'] * 1000:8.1f} ms/step  {result['samples_per_second']:8.1f} "
            f"samples/s  x{speedup:.2f} vs fp32  peak {result['peak_memory_mib']:.0f} MiB")


def _report(args: argparse.Namespace, device: torch.device, modes: list, results: list) -> dict:
    """The JSON report of the modes timed so far; ``complete`` is false until every mode ran."""
    reference = results[0]["seconds_per_step"]
    for r in results:
        r["speedup_vs_fp32"] = reference / r["seconds_per_step"]
    report = {
        "benchmark": "sdseg-train-step", "preset": args.preset, "batch_size": args.batch_size, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cudnn_benchmark": bool(args.cudnn_benchmark and device.type == "cuda"),
        "complete": len(results) == len(modes), "modes_planned": list(modes), "results": results,
        "speedup_vs_fp32": {r["mode"]: round(r["speedup_vs_fp32"], 3) for r in results},
    }
    if "amp" in modes[:len(results)]:  # kept for earlier readers of the report
        report["speedup_amp_vs_fp32"] = results[modes.index("amp")]["speedup_vs_fp32"]
    return report


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    temp = path.with_name(f".{path.name}.partial")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--size", type=int, default=0, help="override sample_size (0 = preset's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny preset, 3 steps, CPU")
    p.add_argument("--cudnn-benchmark", action="store_true", help="CUDA: let cuDNN autotune convolutions (as the trainers do)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="modes to time (fp32 always runs, first)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.smoke:
        args.preset, args.steps, args.warmup, args.device = "tiny", 3, 1, "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
    modes = ["fp32"] + [m for m in MODES[1:] if m in args.modes and (m != "tf32" or device.type == "cuda")]
    results = []
    for m in modes:
        if device.type == "cuda":  # tf32: fp32 weights, TensorFloat-32 matrix products and convolutions
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = m == "tf32"
        result = run_mode(args.preset, args.batch_size, args.steps, args.warmup, m.startswith("amp"), device, args.size,
                          channels_last=m.endswith("channels_last"))
        if m == "tf32":
            result["mode"] = "tf32"
        results.append(result)
        print(_row_text(result, results[0]), file=sys.stderr, flush=True)
        if args.json:  # after every mode, so a run stopped by a time limit keeps the modes it finished
            _write_atomically(Path(args.json), json.dumps(_report(args, device, modes, results), indent=2) + "\n")
    print(json.dumps(_report(args, device, modes, results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
