"""Bounds of ``sdseg segment --samples`` and ``--steps``, checked before any input is read.

Each noise sample repeats every network call of a volume and each DDIM step is one more UNet
call per sample, so an unbounded count (a typo such as ``--samples 10000``) would run for days.
The bounds are those of the engine server (``num_samples`` 1..64, ``num_inference_steps``
1..1000; see :data:`SDSegLogic.segment_options.MAX_SAMPLES` and ``MAX_STEPS``): ``--samples``
at most 64, ``--steps`` at most 1000 and at most the model's training timesteps (checked once the
model is loaded). A value over a bound is a usage error (exit code 2) naming the option, the
value and the limit. Standard library only.
"""

from __future__ import annotations

import argparse

from .cli_errors import UsageError
from .segment_options import MAX_SAMPLES, MAX_STEPS

__all__ = ["check_sampling_counts", "check_steps_for_model"]


def check_sampling_counts(args: argparse.Namespace) -> None:
    """``--samples`` <= :data:`MAX_SAMPLES` and ``--steps`` <= :data:`MAX_STEPS`, before the model loads.

    Raises:
        UsageError: a count over its bound, naming the option, the value and the limit.
    """
    if args.samples > MAX_SAMPLES:
        raise UsageError(f"--samples {args.samples}: at most {MAX_SAMPLES} noise samples per volume (the engine's "
                         f"limit; each sample repeats every network call). Use --samples 2 to {MAX_SAMPLES} for an "
                         "uncertainty map, or 1 for the paper's single draw.")
    if args.steps > MAX_STEPS:
        raise UsageError(f"--steps {args.steps}: at most {MAX_STEPS} sampling steps (the engine's limit, and the "
                         f"timesteps a model is usually trained with). Use --steps 1 (the paper's single step) up to "
                         f"--steps {MAX_STEPS}.")


def check_steps_for_model(args: argparse.Namespace, predictor) -> None:
    """``--steps`` within the model's training timesteps, checked once the model is loaded, before any input is read."""
    schedule = getattr(predictor, "schedule", None)
    limit = getattr(schedule, "num_train_timesteps", None)
    if limit is not None and args.steps > limit:
        raise UsageError(f"--steps {args.steps}: the model {predictor.model_card.model_id!r} was trained with {limit} "
                         f"timesteps, so at most {limit} DDIM steps are possible; use --steps 1 (the paper's single "
                         f"step) up to --steps {limit}.")
