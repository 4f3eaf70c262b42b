"""Inference speed of SDSeg: the official-style reference path against the engine's levers.

One run measures, on one device and with the same weights:

* ``reference``: the official evaluation loop run on the engine's (diffusers) modules: fp32,
  eager, one slice per call, a fresh noise draw per slice (TF32 disabled on CUDA, so it is
  true fp32); every ``speedup_vs_reference`` is relative to this row;
* optionally (``--official-ldm DIR``) ``official modules``: the OFFICIAL LDM networks (exported
  by ``benchmarks/export_official_modules.sh DIR``, never part of this repository) holding the
  same weights, run as the official ``log_dice`` single step does (fp32, eager, batch 1, the
  engine's seed-0 noise); its faithfulness against the fp32 engine proves the weights are the
  same, and every row then also gets ``speedup_vs_official``;
* engine variants, one lever at a time: batching, channels_last, fp16/bf16 weights,
  ``torch.compile`` (and its on-disk cache), on top of each other;
* for every variant: ms/slice, slices/s, peak GPU memory, and faithfulness against the
  fp32 engine output: max |soft-map difference| and Dice of the thresholded masks.

Usage::

    python benchmarks/bench_inference.py --smoke                  # tiny model on the CPU (CI)
    python benchmarks/bench_inference.py --preset lite --device cpu --slices 16
    python benchmarks/bench_inference.py --preset paper --device cuda --slices 256 --compile
    benchmarks/export_official_modules.sh .official               # once; .official is git-ignored
    python benchmarks/bench_inference.py --preset paper --device cuda --official-ldm .official

Weights are random unless ``--model DIR`` points at a trained model folder (faithfulness on
trained weights is what counts for the precision levers). Prints a table and writes JSON, rewritten
atomically after every row (``complete`` stays false until the last one), so a run stopped by a time
limit keeps the rows it finished; the rows that matter most are timed first (:func:`timing_order`).
"""

from __future__ import annotations

import argparse
import copy
import functools
import platform
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

REFERENCE_ROW = "reference (official loop on engine modules: fp32, eager, batch 1)"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from bench_measure import (OFFICIAL_ROW, aot_packages_used, best_time, device_info, mask_dice, print_table,  # noqa: E402
                           real_slices, result_row, sync, weights_kind, with_speedups, write_result)


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


class Variant(NamedTuple):
    """One engine configuration to time.

    Attributes:
        name: row label.
        dtype: weight/activation dtype of the condition encoder and autoencoder (and of the UNet
            unless ``unet_dtype`` is set).
        channels_last: NHWC memory format.
        compile_mode: ``torch.compile`` mode, or ``None`` for eager.
        batch: slices per pipeline call.
        unet_dtype: UNet dtype when it differs from ``dtype``, else ``None``.
        fast_decoder: decode with the model's distilled fast decoder (opt-in path).
    """

    name: str
    dtype: object
    channels_last: bool
    compile_mode: Optional[str]
    batch: int
    unet_dtype: Optional[object] = None
    fast_decoder: bool = False


def engine_variants(device, batch: int, compile_mode: Optional[str] = None, aot: bool = False,
                    fast_decoder: bool = False) -> List[Variant]:
    """The engine variants timed after the reference rows, in table order.

    Args:
        device: ``torch.device``; fp16 variants are CUDA-only.
        batch: slices per call for the batched variants.
        compile_mode: add a ``torch.compile`` variant with this mode when given.
        aot: add AOTInductor-package variants (``SDSegPipeline.compile(backend="aot")``).
        fast_decoder: add variants that decode with the model's fast decoder.
    """
    import torch

    cuda = device.type == "cuda"
    variants = [Variant("engine fp32, batch 1", torch.float32, False, None, 1),
                Variant(f"engine fp32, batch {batch}", torch.float32, False, None, batch),
                Variant(f"engine fp32 + channels_last, batch {batch}", torch.float32, True, None, batch)]
    for dtype in ([torch.float16] if cuda else []) + [torch.bfloat16]:
        variants.append(Variant(f"engine {str(dtype)[6:]} + channels_last, batch {batch}", dtype, True, None, batch))
    variants.append(Variant(f"engine bf16 encoder/decoder + fp32 UNet + channels_last, batch {batch}", torch.bfloat16, True,
                            None, batch, torch.float32))
    if cuda:
        # fp16 UNet error is amplified ~39x by the single step; fp16 is harmless in the encoder/decoder.
        variants.append(Variant(f"engine fp16 encoder/decoder + fp32 UNet + channels_last, batch {batch}", torch.float16, True,
                                None, batch, torch.float32))
    if compile_mode:
        dtype = torch.float16 if cuda else torch.float32
        variants.append(Variant(f"engine {str(dtype)[6:]} + channels_last + compile({compile_mode}), batch {batch}", dtype,
                                True, compile_mode, batch))
    # The engine's default precision (SDSegLogic.device): on CUDA fp16 encoder/decoder + fp32 UNet, the
    # configuration `--compile aot` builds packages for; fp32 on the CPU.
    low, unet = (torch.float16, torch.float32) if cuda else (torch.float32, None)
    name = "fp16 encoder/decoder + fp32 UNet" if cuda else "fp32"
    if aot:
        variants.append(Variant(f"engine {name} + channels_last + AOT packages, batch {batch}", low, True, "aot", batch, unet))
    if fast_decoder:
        variants.append(Variant(f"engine {name} + channels_last + FAST DECODER (opt-in), batch {batch}", low, True, None,
                                batch, unet, True))
        if aot:
            variants.append(Variant(f"engine {name} + channels_last + AOT + FAST DECODER (opt-in), batch {batch}", low, True,
                                    "aot", batch, unet, True))
    return variants


def timing_order(variants: List[Variant], device) -> List[int]:
    """Indices of ``variants`` in the order they are TIMED (the table keeps ``variants``' order).

    A GPU step has a hard time limit and the JSON is rewritten after every row, so the rows that
    matter most run first: AOT packages, the fast decoder and the engine's own default precision
    (what users get), then the other batched levers, and the slow one-slice-per-call row last.
    """
    import torch

    cuda = device.type == "cuda"
    default = (torch.float16, torch.float32) if cuda else (torch.float32, None)

    def rank(index: int) -> tuple:
        v = variants[index]
        headline = v.compile_mode == "aot" or v.fast_decoder or ((v.dtype, v.unet_dtype) == default and v.channels_last == cuda)
        return (v.batch == 1, not headline, index)

    return sorted(range(len(variants)), key=rank)


def _official_reference():
    """The sibling module :mod:`official_reference` (imported lazily: it needs only torch here)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import official_reference

    return official_reference


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

        base, card = load_model_folder(args.model)
    else:
        base = SDSegModel(preset(args.preset)).eval()
    size = base.config.sample_size
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(args.slices, 3, size, size, generator=gen) * 2 - 1
    if args.images_npz is not None:
        images = real_slices(args.images_npz, args.slices, size)

    def fresh(dtype, channels_last=False, compile_mode=None, unet_dtype=None, fast_decoder=False):
        model = copy.deepcopy(base)  # not SDSegModel(config): random init of the paper model costs ~10 s a variant
        pipe = SDSegPipeline(model, None, device=device, dtype=dtype, channels_last=channels_last, unet_dtype=unet_dtype,
                             fast_decoder=fast_decoder)
        if compile_mode == "aot":
            pipe.compile(backend="aot", cache_dir=args.aot_cache, build=args.aot_build)
        elif compile_mode:
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
    result: Dict[str, object] = {
        "benchmark": "sdseg-inference",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "preset": base.config.preset if not args.model else str(args.model),
        "sample_size": size,
        "slices": args.slices,
        "reference_slices": min(args.reference_slices, args.slices),
        "device": device_info(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "parameters": base.parameter_counts(),
        "weights": weights_kind(card) if args.model else "random",
        "model_card": {"id": card.model_id, "version": card.version} if args.model else None,  # e.g. the demo's 0.5.0
        "images": str(args.images_npz) if args.images_npz else "random uniform in [-1, 1]",
        "official": None,
        "complete": False,  # True once every row ran: a run stopped by a time limit keeps its rows
        "rows": rows,
    }
    engine_rows: Dict[int, Dict[str, object]] = {}  # table index -> row, filled in timing order

    def checkpoint() -> None:
        """Rewrite the JSON with every row so far (table order, speed-ups from the reference)."""
        result["rows"] = with_speedups(rows + [engine_rows[i] for i in sorted(engine_rows)])
        write_result(result, args.json, result_name(result), quiet=True)

    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    ref_model = copy.deepcopy(base).to(device).eval()
    ref_images = images[: args.reference_slices]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = best_time(functools.partial(reference_loop, ref_model, ref_images, device), device, args.repeats)
    rows.append(result_row(REFERENCE_ROW, seconds, len(ref_images), device, None, None))
    ref_model = None  # free its memory before the next rows
    checkpoint()

    official_probs = None
    modules = None
    if args.official_ldm is not None:
        official = _official_reference()
        try:
            modules = official.build_official_modules(base, args.official_ldm).to(device)
        except official.OfficialCodeError as exc:  # the engine rows are what a GPU run must not lose
            print(f"official modules skipped: {exc}", flush=True)
            rows.append({"variant": OFFICIAL_ROW, "error": str(exc)[:500]})
    if modules is not None:
        result["official"] = {
            "ldm_root": str(modules.ldm_root),
            "commit": official.official_commit(modules.ldm_root),
            "groupnorm_groups_unet_ae_cond": list(modules.groupnorm_groups),
            "groupnorm_patched": modules.groupnorm_patched,
        }
        held: Dict[str, object] = {}

        def official_call():
            held["probs"] = official.official_reference_loop(modules, ref_images, device, seed=0)

        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        seconds = best_time(official_call, device, args.repeats)
        official_probs = held["probs"]
        rows.append(result_row(OFFICIAL_ROW, seconds, len(ref_images), device, None, None))
        del modules, official_call
        if device.type == "cuda":
            torch.cuda.empty_cache()

    fp32 = fresh(torch.float32)
    truth = engine_fn(fp32, args.batch)()
    fp32 = None  # kept, its fp32 networks would sit in GPU memory and in every later row's peak_gpu_mib
    if official_probs is not None:
        # Same weights and the same seed-0 noise: only floating-point rounding may differ, so this
        # difference (kept to 3 significant digits, not 6 decimals) is the proof of same weights.
        official_row = next(row for row in rows if row["variant"] == OFFICIAL_ROW)
        official_diff = float((official_probs - truth[: len(ref_images)]).abs().max())
        official_row["softmap_max_abs_vs_fp32"] = float(f"{official_diff:.3g}")
        official_row["mask_dice_vs_fp32"] = round(mask_dice(official_probs, truth[: len(ref_images)]), 5)
    checkpoint()
    want_fast = bool(args.fast_decoder) and base.fast_decoder is not None
    variants = engine_variants(device, args.batch, args.compile, aot=args.aot_cache is not None, fast_decoder=want_fast)
    if args.aot_only:
        variants = [v for v in variants if v.compile_mode == "aot"]
    for position, index in enumerate(timing_order(variants, device)):
        v = variants[index]
        compile_start = time.perf_counter()
        try:
            pipe = fresh(v.dtype, v.channels_last, v.compile_mode, v.unet_dtype, v.fast_decoder)
            call = engine_fn(pipe, v.batch)
            probs = call()  # warm-up (and compilation)
        except Exception as exc:  # one failing lever must not lose the other rows of a GPU run
            print(f"variant {v.name!r} failed: {type(exc).__name__}: {exc}", flush=True)
            engine_rows[index] = {"variant": v.name, "error": f"{type(exc).__name__}: {str(exc)[:500]}",
                                  "timed_position": position}
            checkpoint()
            continue
        sync(device)
        warm = time.perf_counter() - compile_start
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)  # steady state: not the warm-up's autotuning workspace
        # The call above was the warm-up; only torch.compile modes (CUDA graphs record on a later call) get another.
        seconds = best_time(call, device, args.repeats, warmup=v.compile_mode not in (None, "aot"))
        diff = float((probs - truth).abs().max())
        dice = mask_dice(probs, truth)
        row = result_row(v.name, seconds, args.slices, device, diff, dice)
        row["first_call_s"] = round(warm, 3)
        row["timed_position"] = position
        if pipe.compile_summary:
            row["compile"] = {k: (e.get("status") if isinstance(e, dict) else e) for k, e in pipe.compile_summary.items()}
        if v.compile_mode == "aot":  # an empty cache (failed cold build) leaves the row eager: say so
            row["aot_packages_used"] = aot_packages_used(pipe.compile_summary or {})
            if not row["aot_packages_used"]:
                row["variant"] += " [no AOT package in the cache: ran eager]"
        engine_rows[index] = row
        pipe = call = None  # free this variant's networks before the next one is built
        if device.type == "cuda":
            torch.cuda.empty_cache()
        checkpoint()
    result["rows"] = with_speedups(rows + [engine_rows[i] for i in sorted(engine_rows)])
    result["complete"] = True
    return result


def result_name(result: Dict[str, object]) -> str:
    """Default JSON file name under ``benchmarks/results/`` (when ``--json`` is not given)."""
    return f"inference-{Path(str(result['preset'])).name}-{result['device']['type']}.json"


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
    parser.add_argument("--aot-cache", type=Path, default=None, metavar="DIR",
                        help="add AOTInductor variants using packages in DIR (see SDSegLogic.compiled)")
    parser.add_argument("--aot-build", action="store_true", help="build missing AOT packages (else missing ones stay eager)")
    parser.add_argument("--aot-only", action="store_true",
                        help="time only the reference rows and the AOT variants (a second run once the packages exist)")
    parser.add_argument("--images-npz", type=Path, default=None, metavar="NPZ",
                        help="real preprocessed slices (key 'images', in [-1, 1]) instead of random images, e.g. "
                             "training/demo_data/demo_ct_lite_128.npz for the demo model")
    parser.add_argument("--fast-decoder", action="store_true", help="add fast-decoder variants (model must carry one)")
    parser.add_argument("--official-ldm", type=Path, default=None, metavar="DIR",
                        help="add a row timing the OFFICIAL LDM modules (same weights) exported into DIR by "
                             "benchmarks/export_official_modules.sh DIR")
    args = parser.parse_args(argv)
    if args.aot_only and args.aot_cache is None:
        parser.error("--aot-only needs --aot-cache DIR (the packages to time)")
    if args.official_ldm is not None:
        official = _official_reference()
        try:
            args.official_ldm = official.check_official_tree(args.official_ldm)
        except official.OfficialCodeError as exc:
            parser.error(str(exc))
    if args.smoke:
        args.preset, args.model, args.slices, args.reference_slices, args.batch, args.repeats = "tiny", None, 4, 2, 4, 1
        args.device = "cpu"
    result = run(args)
    print_table(result)
    write_result(result, args.json, result_name(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
