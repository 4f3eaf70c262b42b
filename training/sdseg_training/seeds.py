"""Seeds of a stage-2 run's random streams, as functions of the run's seed and where a draw happens.

Two streams per process:

* the diffusion time steps t and the noise eps of one micro-batch come from a generator seeded
  by (seed, step, rank, micro-batch), so that a resumed run draws them exactly as the
  uninterrupted one would, with nothing to checkpoint;
* dropout comes from the global torch RNG, whose state every process checkpoints. Process 0
  keeps the stream ``torch.manual_seed(seed)`` starts (a one-process run is unchanged); every
  other process seeds its own, or all processes of a DDP run would drop the same units.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["step_generator", "dropout_seed"]


_SEED_RANGE = 1 << 64  # torch seeds are 64-bit; a negative one acts as its two's complement


def step_generator(seed: int, step: int, rank: int, micro: int) -> torch.Generator:
    """The CPU generator of t and eps for one micro-batch of one process.

    The mixed value is taken modulo 2**64: unchanged wherever torch accepted it (so a run keeps
    its stream), and a seed above about 1.8e8 (e.g. 2**31 - 1 or a time stamp) no longer
    overflows ``manual_seed`` at the first step.
    """
    return torch.Generator().manual_seed((((int(seed) * 1_000_003 + step) * 1009 + rank) * 101 + micro) % _SEED_RANGE)


def dropout_seed(seed: int, rank: int) -> int:
    """The global torch seed of process ``rank`` > 0: its own dropout stream, unrelated to the noise generators.

    ``SeedSequence`` takes no negative entry, so a negative seed enters as its two's complement.
    """
    return int(np.random.SeedSequence([int(seed) % _SEED_RANGE, int(rank), 0x64726F70]).generate_state(1, np.uint32)[0])
