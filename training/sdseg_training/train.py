"""``python -m sdseg_training.train CONFIG.yaml [overrides]``, also under ``accelerate launch -m``.

Example (2 GPUs, fp16 autocast, 2 micro-batches per step)::

    accelerate launch --num_processes 2 -m sdseg_training.train training/configs/kvasir.yaml \\
        train.mixed_precision=fp16 train.grad_accum=2
"""

from __future__ import annotations

import sys

from .cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
