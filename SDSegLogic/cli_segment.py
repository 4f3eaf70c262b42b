"""``sdseg segment``: plan the outputs, load the model once, segment every input.

Kept apart from :mod:`SDSegLogic.cli` so that ``sdseg --help`` never imports this module's
heavy collaborators (torch, SimpleITK): they are imported inside :func:`run_segment`. The plan of
jobs and output paths is :mod:`SDSegLogic.cli_plan` (re-exported here).
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings
from typing import Callable, Dict, List, Optional, Tuple

from .cli import (
    EXIT_OK,
    EXIT_UNEXPECTED,
    Reporter,
    ResourceError,
    UsageError,
    describe_error,
    exit_code_for,
    parse_slices,
)
from .cli_cancel import CancelFlag
from .cli_frames import FRAME_ALL, frame_fields, summarise
from .cli_input_checks import check_inputs_before_loading
from .cli_outputs import _write_outputs, check_outputs, dicom_sources
from .cli_plan import Job, input_stem, plan_jobs
from .cli_sampling import check_steps_for_model
from .device import slow_cpu_dtype_note
from .errors import CancelledError, InputError
from .progress import ProgressEvent, ProgressTracker, printable

__all__ = ["Job", "plan_jobs", "check_outputs", "input_stem", "run_segment"]


def _load(args: argparse.Namespace, loader: Optional[Callable]):
    from .device import resolve_device
    from .registry import resolve_model

    resolved = resolve_model(args.model)
    try:
        device = resolve_device(args.device)
    except InputError as exc:
        raise ResourceError(str(exc)) from None
    options = {}
    precision = getattr(args, "precision", "auto")
    if precision == "mixed":
        options.update(dtype="bf16", unet_dtype="fp32")
    elif precision != "auto":
        options.update(dtype=precision)
    if getattr(args, "fast_decoder", False):
        options.update(fast_decoder=True)
    if loader is None:
        from .pipeline import SDSegPipeline

        loader = SDSegPipeline.from_pretrained
    # A model that lacks what was asked for (e.g. --fast-decoder) raises ConfigError: a model error (exit 4).
    return resolved, device, loader(resolved.folder, device=device, **options)


def _apply_compile(args: argparse.Namespace, predictor, device, reporter) -> None:
    """``--compile``: cached AOT GPU kernels by default, built on request (see SDSegLogic.compiled)."""
    policy = getattr(args, "compile", "auto")
    apply = getattr(predictor, "apply_compile_policy", None)
    if not callable(apply):
        return
    def note(line: str) -> None:
        reporter.note(f"sdseg: {line}")

    apply(policy, report=note if policy == "aot" else (lambda line: None))
    if policy == "auto" and device.type == "cuda" and predictor.compiled_rows is None:
        note("tip: --compile aot builds compiled GPU kernels for this model once (minutes); later runs load them "
             "from the cache in about a second.")


def _check_budget_setting() -> None:
    """``SDSEG_MAX_BYTES`` read once before the model loads: a bad value is a usage error (exit 2), not every input's."""
    from .limits import default_memory_budget

    try:
        default_memory_budget()
    except InputError as exc:
        raise UsageError(f"environment variable {exc}") from None


def _batch_size(args: argparse.Namespace, predictor) -> int:
    """The user's --batch-size, else the engine's suggestion for this model and device."""
    if args.batch_size:
        return args.batch_size
    suggest = getattr(predictor, "suggested_batch_size", None)
    return suggest() if callable(suggest) else 8


def _strictness(args: argparse.Namespace, image) -> dict:
    """``--strict`` and the input's modality, as the keyword arguments of the volume pipeline."""
    strict = bool(getattr(args, "strict", False))
    return {"strict_channels": strict, "strict_modality": strict, "modality": image.modality}


def _slice_count(image, predictor, slices, args: argparse.Namespace, keep: Dict[str, bool]) -> int:
    """Slices the model will see (after reorientation and ``--slices``), before any is segmented.

    Plans with the memory settings of the segmentation itself (``keep``: the ``keep_probabilities``
    and ``keep_variance`` of the outputs asked for), so that the budget check refuses exactly what it would.
    """
    from .segment import plan_segmentation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # segment_array reports the same notes once
        plan = plan_segmentation(image.array.shape, image.geometry, predictor.model_card,
                                 model_size=int(predictor.config.sample_size), is_rgb=image.array.ndim == 4,
                                 slices=slices, batch_size=_batch_size(args, predictor), num_samples=args.samples,
                                 source=str(image.source or "image"), **keep, **_strictness(args, image))
    start, stop = plan.model_range
    return stop - start


def _unique(messages) -> List[str]:
    seen: List[str] = []
    for message in messages:
        if message not in seen:
            seen.append(message)
    return seen


def _segment_one(job: Job, predictor, args: argparse.Namespace, slices, prior: Optional[float], cancel: CancelFlag,
                 reporter: Reporter, common: dict):
    """Read, segment and write one input; returns (tracker, result, written outputs, warnings)."""
    from .io import read_image
    from .segment import segment_array

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(job.input, frame=job.frame, series=job.series)
        sources = dicom_sources(job, image)  # before segmenting: a series a SEG cannot reference fails now
        cancel.check()
        # soft maps and variance on the input grid only for the outputs that write them, and only what they
        # write: P(any segment) and the summed variance, not all C class maps of a multi-class model
        keep = {"keep_probabilities": "probabilities" in job.outputs, "keep_variance": "uncertainty" in job.outputs,
                "collapse_classes": True}
        tracker = ProgressTracker(_slice_count(image, predictor, slices, args, keep), prior)

        def on_progress(done: int, total: int) -> None:
            tracker.total = total
            tracker.update(done)
            reporter.emit(ProgressEvent("progress", done=done, total=total, eta_s=tracker.eta_s,
                                        elapsed_s=tracker.elapsed_s, extra=frame_fields(job), **common))

        on_progress(0, tracker.total)
        result = segment_array(
            image.array, image.geometry, predictor, slices=slices, batch_size=_batch_size(args, predictor),
            num_inference_steps=args.steps, num_samples=args.samples, seed=args.seed,
            progress=on_progress, should_cancel=cancel, source=str(job.input),
            nan_policy=getattr(args, "nan_policy", "reject"),
            **keep, **_strictness(args, image),
        )
        cancel.check()
        written = _write_outputs(job, image, result, predictor.model_card, sources)
    notes = _unique(list(image.metadata.get("warnings", [])) + [str(w.message) for w in caught])
    return tracker, result, written, notes


def _report_failure(exc: Exception, exit_code: int, args: argparse.Namespace, reporter: Reporter, common: dict,
                    extra: Optional[dict] = None) -> int:
    """Emit the error event of one failed input; returns the run's exit code so far.

    The run ends with the exit code of the first failed input, except that an unexpected error
    (a bug: exit code 1) always wins. ``--debug`` prints the traceback.
    """
    code = exit_code_for(exc)
    if getattr(args, "debug", False):
        reporter.print_traceback(exc, f"sdseg: traceback for {common['input']}:\n")
    reporter.emit(ProgressEvent("error", message=describe_error(exc), exit_code=code, extra=dict(extra or {}),
                                **common))
    return EXIT_UNEXPECTED if code == EXIT_UNEXPECTED else (exit_code or code)


def run_segment(args: argparse.Namespace, loader: Optional[Callable] = None) -> int:
    """Run ``sdseg segment``; returns the exit code.

    Args:
        args: parsed arguments (see :func:`SDSegLogic.cli.build_parser`).
        loader: ``loader(folder, device=...) -> predictor``; default ``SDSegPipeline.from_pretrained``.
    """
    reporter = Reporter(json_mode=args.json, quiet=args.quiet)
    run_start = time.monotonic()
    slices = parse_slices(args.slices) if args.slices else None
    jobs = plan_jobs(args)
    check_inputs_before_loading((j.input for j in jobs), getattr(args, "series", None))  # before the model loads

    from .io.frame_cache import keep_decoded_frames

    every_frame = getattr(args, "frame", None) == FRAME_ALL  # then each 4-D file is decoded once for all its frames
    _check_budget_setting()
    with CancelFlag() as cancel, (keep_decoded_frames() if every_frame else contextlib.nullcontext()):
        check_outputs(jobs)  # under the flag: SIGTERM while a folder is probed must not leave the probe file
        cancel.check("no input was started")
        resolved, device, predictor = _load(args, loader)
        check_steps_for_model(args, predictor)
        cancel.check()
        _apply_compile(args, predictor, device, reporter)
        cancel.check()
        chosen = {getattr(predictor, "dtype", None), getattr(predictor, "unet_dtype", None)} - {None}  # as loaded
        slow = slow_cpu_dtype_note(device, chosen, "use --precision auto (fp32 on the CPU)")
        if slow:
            reporter.note(f"sdseg: warning: {slow}")
        card = predictor.model_card
        entry = resolved.entry
        prior = entry.seconds_per_slice(device.type) if entry is not None else None
        if prior is not None:
            prior *= args.samples * args.steps
        reporter.emit(ProgressEvent(
            "start", volumes=len(jobs), elapsed_s=time.monotonic() - run_start,
            extra={"model": card.model_id, "model_version": card.version, "model_folder": str(resolved.folder),
                   "device": str(device), **({"warnings": [slow]} if slow else {})},
        ))
        finished: List[Tuple[Job, str]] = []
        exit_code = EXIT_OK
        for index, job in enumerate(jobs, start=1):
            common = {"volume": index, "volumes": len(jobs), "input": str(job.input)}
            cancel.check(f"{index - 1} of {len(jobs)} volume(s) were done; {job.input} and the rest were not started")
            try:
                tracker, result, written, notes = _segment_one(job, predictor, args, slices, prior, cancel, reporter,
                                                               common)
            except CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one input's failure must not stop the others
                exit_code = _report_failure(exc, exit_code, args, reporter, common, frame_fields(job))
                continue
            if tracker.done > 0:
                prior = tracker.elapsed_s / tracker.done  # the measured rate primes the next volume
            finished.append((job, written["segmentation"]))
            extra: Dict[str, object] = {**frame_fields(job), "voxel_counts": dict(result.voxel_counts)}
            if notes:
                extra["warnings"] = notes
                for note in notes:
                    reporter.note(f"sdseg: warning: {printable(note, lines=True)}")
            reporter.emit(ProgressEvent("volume_done", done=tracker.done, total=tracker.total,
                                        elapsed_s=tracker.elapsed_s, outputs=written, extra=extra, **common))
        cancel.check("it came while the last outputs were written, which were completed")  # not forgotten: exit 5
    outputs, frame_outputs = summarise(finished)
    reporter.emit(ProgressEvent("done", volumes=len(jobs), elapsed_s=time.monotonic() - run_start, outputs=outputs,
                                exit_code=exit_code, extra={"frame_outputs": frame_outputs} if frame_outputs else {}))
    failed = len(jobs) - len(finished)
    unit = "volume(s) (one per frame of a 4-D input)" if any(j.frames for j in jobs) else "input(s)"
    reporter.say(f"segmented {len(finished)} of {len(jobs)} {unit} with {card.model_id} {card.version} in "
                 f"{time.monotonic() - run_start:.1f} s" + (f"; {failed} failed" if failed else ""))
    for job, target in finished:
        reporter.say(f"  {printable(job.input)}" + (f" (frame {job.frame})" if job.frames else "")
                     + f" -> {printable(target)}")
    return exit_code
