"""Write a random-weights model folder of a preset, for speed benchmarks without a trained model.

Speed does not depend on the weights, so the paper preset (256 px, 413 M parameters) can be timed
end to end (file -> ``.seg.nrrd``, engine start-up) without a trained paper checkpoint. The card
says plainly that the weights are random; such a folder must never be used to segment patients.

Usage::

    python benchmarks/make_random_model.py paper /tmp/sdseg-paper-random [--fast-decoder] [--fp16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def make_random_model(preset_name: str, folder: Path, fast_decoder: bool = False, fp16: bool = True, seed: int = 0,
                      overwrite: bool = False) -> Path:
    """Build the preset with random weights and save it as a model folder.

    Args:
        preset_name: ``paper``, ``lite`` or ``tiny``.
        folder: destination (must not exist).
        fast_decoder: also attach a (random, undistilled) fast decoder, to time that path.
        fp16: store float16 weights (the GPU inference precision).
        seed: torch seed for the weights.
        overwrite: replace an existing folder.

    Returns:
        The folder.
    """
    import torch

    from SDSegLogic.config import FastDecoderConfig, preset
    from SDSegLogic.model_card import IntensityMapping, ModelCard, SegmentClass
    from SDSegLogic.models import SDSegModel

    torch.manual_seed(seed)
    config = preset(preset_name)
    if fast_decoder:
        levels = len(config.autoencoder.block_out_channels)
        default = FastDecoderConfig()
        config = config.replace(fast_decoder=FastDecoderConfig(default.block_out_channels[:levels], default.num_blocks[:levels]))
    model = SDSegModel(config).eval()
    card = ModelCard(
        model_id=f"random-{preset_name}",
        version="0.0.0",
        task="SPEED BENCHMARK ONLY: random weights, meaningless output",
        modality="CT",
        intensity=IntensityMapping("window", -1000.0, 400.0),  # the demo card's CT window
        orientation="LPS",
        training_size=config.sample_size,
        classes=(SegmentClass("tissue", 1, (0.867, 0.51, 0.396)),),
        intended_use="Speed benchmarks only. Random weights: never use it to segment images.",
    )
    from SDSegLogic.model_folder import save_model_folder

    return save_model_folder(folder, model, card, variant="fp16" if fp16 else None, overwrite=overwrite)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("preset", choices=["paper", "lite", "tiny"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fast-decoder", action="store_true", help="attach a random fast decoder (timing only)")
    parser.add_argument("--fp32", action="store_true", help="store float32 weights (default float16)")
    args = parser.parse_args(argv)
    folder = make_random_model(args.preset, args.folder, fast_decoder=args.fast_decoder, fp16=not args.fp32)
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
