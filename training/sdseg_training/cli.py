"""Console commands: ``sdseg-train``, ``sdseg-train-ae``, ``sdseg-eval``, ``sdseg-export``.

Every command takes a YAML config and ``section.key=value`` overrides, e.g.::

    sdseg-train-ae configs/demo_ct_lite.yaml
    sdseg-train configs/demo_ct_lite.yaml train.max_steps=2000
    accelerate launch -m sdseg_training.train configs/kvasir.yaml train.mixed_precision=fp16
    sdseg-eval configs/demo_ct_lite.yaml --split test
    sdseg-export configs/demo_ct_lite.yaml --out Resources/Models/sdseg-demo-ct-lite

Overrides may come before or after the options (also after ``sdseg-eval --steps/--samples``,
whose values end at the first ``section.key=value``). An error the package raises on purpose (a bad
config, a dataset that does not have the documented layout, a checkpoint that does not fit) is
printed as one line, ``<command>: error: <message>``, and the command exits with its code in
:data:`EXIT_CODES`; ``--debug`` adds the traceback. When a library wraps such an error (MONAI's
"applying transform ..."), the message of the wrapped SDSeg error is printed. Anything else is a
bug: it keeps its traceback (exit code 1). Ctrl-C exits with 130; during training the trainers first
finish the step and save a checkpoint, and the message names it and the command that resumes.
Only ``sdseg-train`` runs on several processes; the other commands refuse an ``accelerate launch`` or
``torchrun`` start with more than one process (exit 2), which would have every process write the
same folder. Results printed as JSON carry ``null`` for a metric that is not a finite number.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import sys
import traceback
from typing import Any, Callable, List, Optional

from SDSegLogic.errors import CancelledError, CheckpointError, ConfigError, GeometryError, InputError, ModelCardError, SDSegError

from .config import load_config
from .errors import DatasetError, ResumeError, TrainingConfigError, TrainingInterrupted

__all__ = ["train_main", "train_ae_main", "eval_main", "export_main", "EXIT_CODES", "exit_code_for", "user_error"]

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_DATA, EXIT_RUN, EXIT_RESOURCE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 7, 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_UNEXPECTED: "unexpected error (a bug: the traceback is printed; please report it)",
    EXIT_USAGE: "usage or config error: bad option, config file, key, value or override",
    EXIT_DATA: "data error: the dataset is missing, does not have the documented layout, or a case cannot be read",
    EXIT_RUN: "run error: checkpoint, run folder, autoencoder or model missing, corrupt or inconsistent, or a checkpoint "
              "could not be written (disk full); or training diverged",
    EXIT_RESOURCE: "resource error: out of memory",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); a trainer first finishes the step and saves a checkpoint to resume from",
}


def user_error(exc: BaseException) -> Optional[BaseException]:
    """The SDSeg error behind ``exc``: itself, or the first one along its ``__cause__``/``__context__`` chain.

    Libraries wrap errors raised in callbacks (MONAI: ``RuntimeError: applying transform ...``);
    the wrapped SDSeg error carries the message meant for the user. ``None`` when there is none.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, SDSegError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return None


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of an exception (see :data:`EXIT_CODES`)."""
    if isinstance(exc, (KeyboardInterrupt, CancelledError)):
        return EXIT_INTERRUPTED
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return EXIT_RESOURCE
    found = user_error(exc)
    if isinstance(found, TrainingConfigError):
        return EXIT_USAGE
    if isinstance(found, (DatasetError, InputError, GeometryError)):
        return EXIT_DATA
    if isinstance(found, (ResumeError, ConfigError, ModelCardError, CheckpointError, SDSegError)):
        return EXIT_RUN
    return EXIT_UNEXPECTED


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(_finite(value), indent=2, allow_nan=False)


def _parser(prog: str, description: str, example: str = "train.max_steps=100") -> argparse.ArgumentParser:
    """The common parser: config, overrides (``example`` is one this command reads), ``--debug``, the exit codes."""
    codes = "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=f"exit codes:\n{codes}",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="training YAML (see training/configs/)")
    p.add_argument("overrides", nargs="*", help=f"section.key=value overrides, e.g. {example} (before or after the options)")
    p.add_argument("--debug", action="store_true", help="print the full traceback of errors")
    return p


def launched_processes() -> int:
    """How many processes ``accelerate launch`` / ``torchrun`` started for this run (1 without them)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _require_one_process(prog: str) -> None:
    """Refuse a multi-process launch of a command that runs in one process (they would all write one folder)."""
    count = launched_processes()
    if count > 1:
        raise TrainingConfigError(
            f"{prog} runs in one process, but this launch started {count} (WORLD_SIZE={count}): each would write the "
            f"same output folder. Run it without accelerate launch / torchrun ({prog} CONFIG [overrides]); only "
            "sdseg-train (stage 2) runs on several processes.")


def _run(parser: argparse.ArgumentParser, argv: Optional[List[str]], body: Callable[[argparse.Namespace], int],
         single_process: bool = False) -> int:
    """Parse ``argv`` and run ``body``; SDSeg errors become one line on stderr and an exit code.

    ``single_process`` commands refuse a multi-process launch; only the process of rank 0 prints why.
    """
    args = parser.parse_intermixed_args(argv)  # a usage error exits 2 here, as argparse does
    try:
        if single_process:
            try:
                _require_one_process(parser.prog)
            except TrainingConfigError:
                if os.environ.get("RANK", "0") != "0":
                    return EXIT_USAGE  # rank 0 says why
                raise
        return body(args)
    except SystemExit:
        raise
    except BaseException as exc:
        code = exit_code_for(exc)
        if code == EXIT_UNEXPECTED:
            raise  # a bug: the traceback is the report
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        if code == EXIT_INTERRUPTED:
            if isinstance(exc, TrainingInterrupted) and not exc.report:
                return code  # another process of a multi-process run: the main one reports
            text = _interrupted_text(parser.prog, args, exc)
        elif code == EXIT_RESOURCE:
            text = f"out of memory ({' '.join(str(exc).split())}); lower train.batch_size (or autoencoder.batch_size) or data.size."
        else:
            found = user_error(exc)
            text = " ".join(str(found).split()) or type(found).__name__
        sys.stderr.write(f"{parser.prog}: error: {text}\n")
        sys.stderr.flush()
        return code


def _interrupted_text(prog: str, args: argparse.Namespace, exc: BaseException) -> str:
    """``interrupted.``, or for a trainer that saved a checkpoint: where it is and the command that resumes."""
    if not isinstance(exc, TrainingInterrupted) or exc.checkpoint is None:
        return "interrupted."
    command = shlex.join([prog, args.config, *args.overrides])
    if "WORLD_SIZE" in os.environ:  # started by accelerate launch / torchrun
        command = f"the same launch command without --resume none/--overwrite ({command} for one process)"
    return f"{exc}. Resume with: {command}"


def train_ae_main(argv: Optional[List[str]] = None) -> int:
    """Stage 1: train the mask autoencoder."""
    from .autoencoder import train_autoencoder

    def body(args: argparse.Namespace) -> int:
        print(_json(train_autoencoder(load_config(args.config, args.overrides), overwrite=args.overwrite)))
        return EXIT_OK

    p = _parser("sdseg-train-ae", "Train the SDSeg mask autoencoder (stage 1).", "autoencoder.max_steps=100")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the trained autoencoder in autoencoder.output_dir (the old one is kept in "
                        "<output_dir>/replaced/<sha256>/); an interrupted run there (stage1-resume/) starts over "
                        "instead of resuming")
    return _run(p, argv, body, single_process=True)


def train_main(argv: Optional[List[str]] = None) -> int:
    """Stage 2: train tau_theta and the UNet (single process, or under ``accelerate launch``)."""
    from .trainer import Stage2Trainer

    p = _parser("sdseg-train", "Train an SDSeg model (stage 2: tau_theta + UNet, frozen autoencoder).")
    p.add_argument("--resume", default=None,
                   help="'auto' (default: latest checkpoint in train.output_dir), 'none' (a new run: refused where "
                        "train.output_dir holds checkpoints, unless --overwrite), or a checkpoint folder")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in a folder that holds an earlier run: first delete that run's checkpoints, "
                        "best model, config record and TensorBoard events (split.json and other files stay)")

    def body(args: argparse.Namespace) -> int:
        resume = args.resume or ("none" if args.overwrite else "auto")
        trainer = Stage2Trainer(load_config(args.config, args.overrides), resume=resume, overwrite=args.overwrite)
        result = trainer.run()
        if trainer.accelerator.is_main_process:
            print(_json(result))
        return EXIT_OK

    return _run(p, argv, body)


def eval_main(argv: Optional[List[str]] = None) -> int:
    """Evaluate a run's best (or given) checkpoint on a split with the EMA UNet."""
    from .evaluate import evaluate_run

    p = _parser("sdseg-eval", "Evaluate an SDSeg run (Dice / IoU) on a split of its cases: test (default), val or train.", "train.output_dir=runs/b")
    p.add_argument("--split", default="test", choices=("test", "val", "train"),
                   help="the cases to score, from the run's split.json: test (held out; the default), val (chose the best "
                        "checkpoint, so optimistic) or train (seen in training: a check of fit, not of generalisation)")
    p.add_argument("--checkpoint", default="best", help="'best', 'latest' or a checkpoint folder")
    p.add_argument("--steps", nargs="+", default=[1], action=_CountsThenOverrides, metavar="N",
                   help="inference steps (1 = single step; >1 = DDIM); section.key=value after them are overrides")
    p.add_argument("--samples", nargs="+", default=[1], action=_CountsThenOverrides, metavar="N",
                   help="noise draws averaged per slice (1 = the paper's single draw; N > 1 as `sdseg segment --samples N`)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the diffusion noise drawn for each slice (default 0); another seed draws other noise")
    p.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    p.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'auto' (CUDA when available)")
    p.add_argument("--grid", default="training", choices=("training", "native"),
                   help="training (default): score against the labels resized to data.size, as the original's numbers; "
                        "native: resize the predictions back to each case's own grid, as the engine does, and score "
                        "against the label files there")
    p.set_defaults(late_overrides=[])
    tokens = list(sys.argv[1:] if argv is None else argv)

    def body(args: argparse.Namespace) -> int:
        device = args.device
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        # in the order given, wherever they stood: a later value of a key wins, as in load_config
        overrides = sorted(args.overrides + args.late_overrides, key=lambda t: tokens.index(t) if t in tokens else len(tokens))
        result = evaluate_run(load_config(args.config, overrides), args.split, args.checkpoint, args.steps, args.seed, device,
                              samples=args.samples, grid=args.grid)
        result = {"config": args.config, "overrides": overrides, **result}
        print(_json(result))
        if args.json:
            from pathlib import Path

            from .data.splits import write_json_atomic

            write_json_atomic(Path(args.json), _finite(result))
        return EXIT_OK

    return _run(p, argv, body, single_process=True)


_OVERRIDE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_.]+=")


class _CountsThenOverrides(argparse.Action):
    """``--steps 1 10 data.root=/x``: the integers (>= 1) are the option's values, ``section.key=value`` are overrides.

    ``nargs="+"`` takes every word up to the next option, so without this an override after
    ``--steps`` was read as a step count and refused.
    """

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        counts, overrides = [], []
        for token in values:
            if _OVERRIDE.match(token):
                overrides.append(token)
                continue
            try:
                number = int(token)
            except ValueError:
                parser.error(f"argument {option_string}: {token!r} is neither a whole number nor a section.key=value override.")
            if number < 1:
                parser.error(f"argument {option_string}: {number} must be 1 or more.")
            counts.append(number)
        if not counts:
            parser.error(f"argument {option_string}: give at least one number before the overrides.")
        setattr(namespace, self.dest, counts)
        namespace.late_overrides = list(getattr(namespace, "late_overrides", None) or []) + overrides


def export_main(argv: Optional[List[str]] = None) -> int:
    """Export a run to an engine model folder (fp16 safetensors + model card)."""
    from .export import export_run

    p = _parser("sdseg-export", "Export an SDSeg run to an engine model folder.", "train.output_dir=runs/b")
    p.add_argument("--out", required=True, help="destination model folder")
    p.add_argument("--checkpoint", default="best",
                   help="'best' (default: the best validated step), 'latest' (the last step checkpoint) or a checkpoint folder")
    p.add_argument("--card", default=None,
                   help="YAML/JSON with model-card fields (model_id, version, task, modality, license, classes, ...)")
    p.add_argument("--metrics", default=None, help="JSON of test metrics to record in the card")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier export (only an engine model folder; never the run, stage-1 or data folder)")

    def body(args: argparse.Namespace) -> int:
        print(export_run(load_config(args.config, args.overrides), args.out, args.checkpoint, args.card, args.metrics, args.overwrite))
        return EXIT_OK

    return _run(p, argv, body, single_process=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train_main())
