"""Volume read time in a fresh process: the engine's readers against SimpleITK on the same files.

Writes a CT-like int16 phantom (:func:`bench_measure.synthetic_ct`, 512 x 512 x N by default) as
``.nii.gz`` (gzip level 6, as dcm2niix/pigz write it), ``.nii`` and ``.nrrd`` (gzip), then times,
each in a new Python process (the first read of a CLI or engine run, allocations included), in
alternating order:

1. ``itk``: ``SimpleITK.ReadImage`` + ``GetArrayFromImage`` + float32 cast; no checks (the floor
   of the former path);
2. ``two-pass`` (NIfTI only): the engine's former NIfTI path: header checks, the truncation check
   that decompressed a ``.nii.gz`` a first time (standard zlib), then SimpleITK's read (a second
   time) + cast;
3. ``engine-zlib`` (gzip files): :func:`SDSegLogic.io.read_image` with the standard zlib
   (``SDSEG_DEFLATE=zlib``): header checks, one decompression, NumPy voxels;
4. ``engine``: the same with the default gzip decoder (zlib-ng when installed; the JSON says which).

Host-side only: no GPU involved, so the ratios from this machine carry over; absolute times
depend on the CPU and the OS file cache (files are read once before timing). Prints medians and
ratios and writes JSON.

Usage::

    python benchmarks/bench_read.py --slices 200 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_measure import synthetic_ct, write_result  # noqa: E402

_CHILD = r"""
import json, sys, time
from pathlib import Path
mode, path = sys.argv[1], Path(sys.argv[2])
import numpy as np
import SimpleITK as sitk
from SDSegLogic.io import read_image
from SDSegLogic.io._nifti import check_nifti_size, check_nifti_transforms, read_nifti_header
start = time.perf_counter()
if mode.startswith("engine"):
    array = read_image(path).array
else:
    if mode == "two-pass":
        header = read_nifti_header(path)
        check_nifti_transforms(path, header)
        check_nifti_size(path, header)
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float32)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "shape": list(array.shape), "sum": float(array.sum(dtype=np.float64))}))
"""


def _modes(name: str) -> List[str]:
    modes = ["itk", "two-pass"] if name.startswith("ct.nii") else ["itk"]
    gzipped = name.endswith((".gz", ".nrrd"))  # the phantom's .nrrd is gzip-encoded
    return modes + (["engine-zlib", "engine"] if gzipped else ["engine"])


def write_phantoms(folder: Path, slices: int, size: int) -> List[Path]:
    """The phantom as ``ct.nii.gz``, ``ct.nii`` and ``ct.nrrd`` in ``folder``."""
    import SimpleITK as sitk

    from SDSegLogic.io._nrrd_write import write_nrrd
    from SDSegLogic.io._sitk import image_from_array

    volume, geometry = synthetic_ct(slices, size)
    plain = folder / "ct.nii"
    sitk.WriteImage(image_from_array(volume, geometry), str(plain))
    packed = folder / "ct.nii.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=6))
    write_nrrd(folder / "ct.nrrd", volume, geometry, {})
    return [packed, plain, folder / "ct.nrrd"]


def run_child(mode: str, path: Path) -> Dict[str, object]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("SDSEG_DEFLATE", None)
    if mode in ("engine-zlib", "two-pass"):  # the former path had only the standard zlib
        env["SDSEG_DEFLATE"] = "zlib"
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path)], capture_output=True, text=True, env=env,
                         cwd=str(ROOT), check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode} {path.name}: child failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=200, help="phantom slices (default 200)")
    parser.add_argument("--size", type=int, default=512, help="phantom rows and columns (default 512)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each round reads every file in every mode")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.slices < 1 or args.size < 16:
        parser.error("--repeats and --slices must be >= 1 and --size >= 16")
    with tempfile.TemporaryDirectory(prefix="sdseg-read-") as tmp:
        files = write_phantoms(Path(tmp), args.slices, args.size)
        sizes_mb = {p.name: round(p.stat().st_size / 1e6, 1) for p in files}
        runs: Dict[str, Dict[str, List[Dict[str, object]]]] = {p.name: {m: [] for m in _modes(p.name)} for p in files}
        for path in files:
            run_child("itk", path)  # the file into the OS cache
            for round_index in range(args.repeats):
                modes = _modes(path.name)
                for mode in modes if round_index % 2 == 0 else reversed(modes):
                    runs[path.name][mode].append(run_child(mode, path))
    medians = {name: {m: statistics.median(r["seconds"] for r in rows) for m, rows in by_mode.items()}
               for name, by_mode in runs.items()}
    for name, by_mode in runs.items():
        sums = {r["sum"] for rows in by_mode.values() for r in rows}
        if len(sums) != 1:
            raise SystemExit(f"{name}: the modes read different voxels (sums {sorted(sums)})")
    print(f"phantom {args.size} x {args.size} x {args.slices} int16, {args.repeats} rounds, "
          f"{os.cpu_count()} CPUs, each read in a fresh process")
    from SDSegLogic.io._deflate import implementation

    print(f"{'file':<11} {'MB':>6} {'mode':<11} {'median s':>9} {'min s':>6} {'x itk':>7} {'x two-pass':>11}"
          f"   (engine: {implementation()}; ratios of medians)")
    for name, by_mode in medians.items():
        for mode, seconds in by_mode.items():
            two_pass = f"{by_mode['two-pass'] / seconds:>11.2f}" if "two-pass" in by_mode else f"{'':>11}"
            fastest = min(r["seconds"] for r in runs[name][mode])
            print(f"{name:<11} {sizes_mb[name]:>6} {mode:<11} {seconds:>9.3f} {fastest:>6.3f} {by_mode['itk'] / seconds:>7.2f} {two_pass}")
    result = {"benchmark": "sdseg-read", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "shape_kji": [args.slices, args.size, args.size], "file_mb": sizes_mb, "python": platform.python_version(),
              "machine": platform.machine(), "cpu_count": os.cpu_count(), "repeats": args.repeats,
              "engine_deflate": implementation(),
              "median_s": {n: {m: round(v, 4) for m, v in by_mode.items()} for n, by_mode in medians.items()},
              "runs": runs}
    write_result(result, args.json, "read.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
