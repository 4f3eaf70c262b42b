"""``python -m sdseg_training.stage1_copy SRC DST``: a stage-1 output as a small fp16 folder.

A stage-1 folder (``autoencoder.safetensors`` in float32, ``autoencoder.json``, ``split.json``)
is what stage 2 freezes. Its fp16 copy is half the size, which is what an engine model folder
stores anyway, and it is enough to start stage 2 elsewhere: ``model.autoencoder=DST``, or
``SDSEG_STAGE1_FROM=DST`` for ``scripts/train_demo_gpu.sh`` (the whole GPU budget then goes to
stage 2). Score the copy itself (``python -m sdseg_training.heldout ae ... --stage1 DST``) before
relying on it: the rounding to fp16 may move a boundary pixel.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from .data.splits import write_json_atomic
from .errors import TrainingConfigError
from .modeling import AE_META, AE_WEIGHTS, save_safetensors_atomic

__all__ = ["FP16_WEIGHTS", "copy_stage1_fp16", "main"]

FP16_WEIGHTS = "autoencoder.fp16.safetensors"


def copy_stage1_fp16(source: Path, target: Path, overwrite: bool = False) -> Path:
    """Write ``target`` with the fp16 weights, metadata and split of the stage-1 folder ``source``.

    Args:
        source: stage-1 output folder (``autoencoder.safetensors`` float32 and ``autoencoder.json``).
        target: new folder; must not exist unless ``overwrite``.
        overwrite: replace an existing ``target``.

    Returns:
        ``target``.

    Raises:
        TrainingConfigError: ``source`` is not a stage-1 folder, or ``target`` exists.
    """
    import torch
    from safetensors.torch import load_file

    source, target = Path(source), Path(target)
    weights, meta = source / AE_WEIGHTS, source / AE_META
    if not weights.is_file() or not meta.is_file():
        raise TrainingConfigError(f"{source}: not a stage-1 output (needs {AE_WEIGHTS} and {AE_META}); "
                                  "train one with sdseg-train-ae.")
    if target.exists() and not overwrite:
        raise TrainingConfigError(f"{target} exists; choose a new folder or pass --overwrite.")
    state = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
    target.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(state, target / FP16_WEIGHTS, metadata={"format": "pt", "component": "autoencoder"})
    (target / AE_WEIGHTS).unlink(missing_ok=True)  # an older float32 file would be read first
    info = json.loads(meta.read_text(encoding="utf-8"))
    info["stored_dtype"] = "float16"
    info["copied_from"] = str(source)
    write_json_atomic(target / AE_META, info)
    if (source / "split.json").is_file():
        write_json_atomic(target / "split.json", json.loads((source / "split.json").read_text(encoding="utf-8")))
    return target


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdseg_training.stage1_copy",
                                     description="Write a stage-1 output as a small fp16 folder that stage 2 accepts.")
    parser.add_argument("source", type=Path, help="stage-1 output folder")
    parser.add_argument("target", type=Path, help="new folder for the fp16 copy")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        out = copy_stage1_fp16(args.source, args.target, args.overwrite)
    except TrainingConfigError as exc:
        print(f"stage1_copy: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
