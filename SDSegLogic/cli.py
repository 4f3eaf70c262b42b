"""``sdseg``: segment images with SDSeg from the command line, manage models, report the setup.

Commands::

    sdseg segment INPUT... -o OUT [--model ID|DIR] [--device auto|cpu|cuda|cuda:N] [--batch-size N]
                  [--precision auto|fp32|fp16|bf16|mixed] [--fast-decoder] [--compile auto|aot|off]
                  [--steps N] [--samples N] [--seed S] [--slices A:B] [--prob-map P]
                  [--uncertainty P] [--preview P] [--dicom-seg P] [--format EXT] [--frame N|all]
                  [--series UID] [--nan-policy reject|fill] [--strict] [--quiet] [--json] [--debug]
    sdseg models list | info ID | verify ID|DIR | import ZIP [--force] [--sha256 HEX]
    sdseg info
    sdseg score PREDICTION REFERENCE [--pair PRED=REF] [--match auto|name|value] [-o REPORT] [--json]

``segment`` loads the model once and segments every input with it. With one input, ``-o`` (and
``--prob-map``, ``--uncertainty``, ``--preview``, ``--dicom-seg``) are file paths; the extension
of ``-o`` chooses the format: ``.seg.nrrd`` (Slicer segmentation with named, coloured segments), a
labelmap ``.nrrd``/``.nii``/``.nii.gz``/``.mha``, or ``.dcm`` (e.g. ``ct.seg.dcm``): a DICOM
Segmentation for PACS, as ``--dicom-seg`` also writes one beside another ``-o`` (only for DICOM
series inputs; needs ``pip install "sdseg[dicom]"``; see :mod:`SDSegLogic.io.dicom_seg`). With
several inputs (or when ``-o`` is an existing folder or ends with ``/``) they are folders, and each
input ``NAME.ext`` gives ``NAME.seg.nrrd`` (``--format`` picks another extension),
``NAME.prob.nrrd``, ``NAME.uncertainty.nrrd``, ``NAME.preview.png`` and ``NAME.seg.dcm``.
``--slices A:B`` segments slices A to B-1 (0-based, either bound may be left out); the others are
written as background. ``--frame``, ``--series``, ``--nan-policy`` and ``--strict`` apply to every
input (``--frame`` picks the frame of 4-D images and the page of multi-page pictures; 3-D inputs
ignore it; ``--series`` picks the series of DICOM inputs, other inputs ignore it, and a run without a
DICOM input refuses it). ``--frame all`` segments every frame of every 4-D input as its own volume, on the
frame's 3-D grid: frame k of ``NAME`` gives ``NAME.frameKKK.seg.nrrd`` (3 digits or more: names sort
by frame), so ``-o out.seg.nrrd`` gives ``out.frame000.seg.nrrd``, ... beside it, and so on for every
output (a DICOM SEG of a 4-D input is refused); the frame count is read from the header. Output paths
are checked before the model loads, and the outputs of one input are written together: each to a
temporary file first, then all renamed, so a failed output leaves every existing file unchanged.

``score`` compares a segmentation (``.seg.nrrd``, DICOM SEG or labelmap) with a reference on the same voxel
grid: Dice, IoU, HD95, ASSD and HD in mm, volumes in mL, per segment (see :mod:`SDSegLogic.cli_score`);
given two folders, every case they share, paired by file name, and a summary per segment.

Progress goes to stderr as a bar with the ETA of each volume (``--quiet`` hides it). With
``--json``, stdout carries **one JSON object per line** instead (the bar is off, errors still go
to stderr as one line). Every object has ``format_version`` (1) and ``event``; other fields
appear when they apply:

========== ==================================================================================
event      fields
========== ==================================================================================
start      ``volumes``, ``elapsed_s`` (model loading time), ``model``, ``model_version``,
           ``model_folder``, ``device``
progress   ``volume`` (1-based), ``volumes``, ``input``, ``done``, ``total`` (slices),
           ``eta_s`` (seconds left in this volume; absent while unknown), ``elapsed_s``;
           ``frame`` (0-based) when the volume is one frame of a 4-D input (``--frame all``)
volume_done ``volume``, ``volumes``, ``input``, ``done``, ``total``, ``elapsed_s``,
           ``outputs`` {kind: path} with kind in segmentation, probabilities, uncertainty, preview,
           dicom_seg;
           ``voxel_counts`` {segment name: voxels}; ``warnings`` [text] when there were any;
           ``frame`` as on ``progress``
error      ``message``, ``exit_code``; plus ``volume``, ``volumes``, ``input`` (and ``frame``) when
           one input (or frame) failed (the run goes on with the next one and ends with the exit
           code of the first failure, or 1 when any failure was unexpected)
done       ``volumes``, ``elapsed_s`` (whole run), ``exit_code``, ``outputs`` {input: segmentation};
           with ``--frame all``, 4-D inputs are in ``frame_outputs`` {input: {frame: segmentation}}
========== ==================================================================================

A run emits ``start``, then per volume ``progress`` events (the first with ``done`` 0) and
``volume_done`` or ``error``, then ``done``; a fatal error (bad model, interrupted) emits
``error`` and stops. A reader that leaves early (``--json | head -1``) stops the run quietly with exit
code 141, as SIGPIPE would: the outputs of finished inputs are kept, the current one's are not
written. Readers must ignore fields they do not know. The ETA of a volume uses the
registry's ``cpu_seconds_per_slice``/``gpu_seconds_per_slice`` until the first batch is done,
then the measured rate, which also primes the next volume.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Union

from .compile_policy import COMPILE_POLICIES
from .cli_errors import (EXIT_CANCELLED, EXIT_INPUT, EXIT_MODEL, EXIT_OK, EXIT_OUTPUT, EXIT_RESOURCE,  # noqa: F401
                         EXIT_UNEXPECTED, EXIT_USAGE, OutputError, ResourceError, UsageError, describe_error,
                         exit_code_for)
from .cli_report import EXIT_STREAM_CLOSED, Reporter, StreamClosed, discard_closed_streams, is_closed_pipe
from .progress import ProgressEvent, printable
from .registry import DEFAULT_MODEL_ID

__all__ = ["main", "build_parser", "exit_code_for", "EXIT_CODES", "UsageError", "OutputError", "ResourceError"]

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_UNEXPECTED: "unexpected error (a bug: rerun with --debug and report the traceback)",
    EXIT_USAGE: "usage error: bad option, value or output name",
    EXIT_INPUT: "input error: an input image is missing, unreadable or unsupported",
    EXIT_MODEL: "model error: unknown, not installed, corrupt or inconsistent model",
    EXIT_CANCELLED: "cancelled (Ctrl-C / SIGINT or SIGTERM); unfinished outputs are not written",
    EXIT_OUTPUT: "output error: an output file cannot be written",
    EXIT_RESOURCE: "resource error: device not available or out of memory",
    EXIT_STREAM_CLOSED: "stdout/stderr closed early (e.g. piped into head): stopped quietly, as on SIGPIPE; "
                        "finished outputs are kept",
}
FRAME_ALL = "all"  # --frame all: every frame of every 4-D input
SEGMENTATION_EXTENSIONS = (".seg.nrrd", ".nrrd", ".nii.gz", ".nii", ".mha", ".seg.dcm", ".dcm")
DICOM_SEG_EXTENSIONS = (".dcm",)  # a DICOM Segmentation (ct.seg.dcm), for DICOM series inputs only
FLOAT_EXTENSIONS = (".nrrd", ".nii.gz", ".nii", ".mha")


SCORE_DESCRIPTION = """\
Compare a segmentation (.seg.nrrd, DICOM SEG or labelmap) with a reference on the same voxel grid:
Dice, IoU, HD95, ASSD and HD in mm, volumes in mL, per segment. Pictures (PNG, JPEG, TIFF, BMP)
store no pixel size: their distances are in pixels and their areas are pixel counts. A JPEG mask is
binary (foreground where its grey level, a colour file's rounded luma, is above 127, as training reads
it); a PNG with a coloured palette (PASCAL VOC) reads as its palette indices.

A segment empty in both files scores Dice = IoU = 1; empty in one file only, 0. Its distances are
then undefined: '-' in the table (with the reason), null in --json and -o .json, empty in -o .csv.
HD95 is the larger of the two directed 95th percentiles of surface distances (MONAI's convention);
in a one-slice image (a picture, a single slice) surfaces are the in-plane contours.
Given two folders, every case they share is scored and summarised per segment. Files pair by name
without their ending, a '.seg' before it, or Slicer's '-label' (ct001-label.nrrd is case ct001); exact
names first, then names differing only in letter case when one candidate fits; a subfolder holding one
DICOM series is the case named by the folder (DICOM files pair by .dcm, .dicom or .ima). The summary per segment gives mean, SD and median
Dice, median HD95 and mean ASSD; 'HD95 n' counts the cases that have an HD95, i.e. where both masks
are non-empty (e.g. 3/5). A label some labelmap reference holds is annotated in every case: where a
case's reference lacks it, the prediction's false positive scores 0 and its absence from both files 1.
Binary references saved as 0/1 in some cases and 0/255 in others are one structure in two encodings,
not two labels: each case is then scored on its own reference's value only, with a warning naming the
cases (to score both values as one segment: --pair "1+255=1+255"); a 0/1 mask scored against a 0/255
one gets a warning giving the --pair that compares them (--pair 1=255). Each case keeps its own distance
unit (CSV column 'unit'); a segment scored on both pictures and volumes gets no HD95/ASSD summary, as
pixels and mm do not average.
A DICOM SEG drawn on thicker slices (frames on one slice in N of the grid, and a SpacingBetweenSlices
or SliceThickness N times the grid's) is scored on its own slices only, with a warning.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit(2) itself
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _int_at_least(minimum: int):
    """The argparse type of an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {minimum}")
        return value

    return parse


def _seed(text: str) -> int:
    """The argparse type of ``--seed``: an integer that a torch generator accepts (64 bits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not -2**63 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"{text!r} does not fit in 64 bits; use a seed from 0 to {2**63 - 1}")
    return value


def _frame(text: str) -> Union[int, str]:
    """The argparse type of ``--frame``: a 0-based frame index, or ``all``."""
    if text.strip().lower() == FRAME_ALL:
        return FRAME_ALL
    try:
        return _int_at_least(0)(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or 'all': every frame)") from None


def _device(text: str) -> str:
    low = text.lower()
    if low in ("auto", "cpu", "cuda") or (low.startswith("cuda:") and low[5:].isdigit()):
        return low
    raise argparse.ArgumentTypeError(f"{text!r} is not one of auto, cpu, cuda, cuda:N")


def parse_slices(text: str) -> tuple:
    """``"A:B"`` -> ``(A, B)`` with ``None`` for a missing bound; raises :class:`UsageError`."""
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError
        bounds = tuple(int(x) if x.strip() else None for x in (start, stop))
    except ValueError:
        raise UsageError(f"--slices {text!r}: expected A:B with 0-based integers, e.g. 10:50, 10: or :50.") from None
    if any(b is not None and b < 0 for b in bounds):
        raise UsageError(f"--slices {text!r}: bounds must be >= 0.")
    if None not in bounds and bounds[0] >= bounds[1]:
        raise UsageError(f"--slices {text!r}: A must be smaller than B (B is excluded).")
    return bounds


def _options(json_help: str, top: bool = False) -> argparse.ArgumentParser:
    """The options every command takes (``--debug``, ``--json``), with ``json_help`` saying what ``--json`` prints.

    Only the top-level parser (``top``) gives them a default (``False``): a command's parser sets them
    only when given after the command, so ``sdseg --json models list`` keeps the ``--json`` given before it.
    """
    default = False if top else argparse.SUPPRESS
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--debug", action="store_true", default=default, help="print the full traceback of errors")
    options.add_argument("--json", action="store_true", default=default, help=json_help)
    return options


def build_parser() -> argparse.ArgumentParser:
    """The ``sdseg`` argument parser (no heavy imports)."""
    codes = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    epilog = (
        f"exit codes:\n{codes}\n\nenvironment: SDSEG_HOME (model and compiled-kernel cache root, an absolute path, "
        "default ~/.sdseg), SDSEG_REGISTRY (models.json to use), SDSEG_MAX_BYTES (memory budget of one image in bytes, "
        "default min(8 GiB, 75 % of RAM)), SDSEG_CUDNN_BENCHMARK=0 (skip cuDNN autotuning: faster start).\n"
        "See 'sdseg COMMAND --help'; the --json event schema is in the docstring of SDSegLogic.cli."
    )
    common = _options("machine-readable output on stdout (segment: one JSON event per line; the other commands: "
                      "one JSON document)", top=True)
    events = _options("machine-readable output on stdout: one JSON event per line instead of the progress bar "
                      "(the schema is in the docstring of SDSegLogic.cli)")
    document = _options("machine-readable output on stdout: one JSON document (ASCII, other characters as \\u "
                        "escapes)")
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="sdseg", description="SDSeg latent-diffusion segmentation (Lin et al., MICCAI 2024).",
                     epilog=epilog, formatter_class=fmt, parents=[common])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    examples = (
        "examples:\n  sdseg segment Resources/Samples/ct-chest-abdomen.nrrd -o ct.seg.nrrd --slices 20:34\n"
        "  sdseg segment a.nii.gz b.nii.gz -o results/ --format nii.gz --prob-map results/ --json\n"
        "  sdseg segment ct.nrrd -o ct.seg.nrrd --samples 8 --uncertainty ct-variance.nrrd --model my-model-folder\n"
        "  sdseg segment dicom_folder/ -o ct.seg.dcm   # DICOM SEG for PACS (pip install \"sdseg[dicom]\")\n\n"
    )
    seg = sub.add_parser("segment", parents=[events], help="segment one or more images", epilog=examples + epilog,
                         formatter_class=fmt,
                         description="Segment images (NRRD, NIfTI, MetaImage, DICOM folder, PNG/JPEG/TIFF/BMP) "
                                     "with one model load.")
    seg.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or DICOM folders")
    seg.add_argument("-o", "--output", required=True, metavar="OUT",
                     help="output file (one input: .seg.nrrd, .nrrd, .nii.gz, ..., or .seg.dcm for a DICOM SEG) or "
                          "folder (several inputs)")
    seg.add_argument("--model", default=DEFAULT_MODEL_ID, metavar="ID|DIR",
                     help=f"registry id (optionally ID@VERSION) or model folder (default: {DEFAULT_MODEL_ID})")
    seg.add_argument("--device", type=_device, default="auto", metavar="auto|cpu|cuda|cuda:N",
                     help="auto (CUDA if present), cpu, cuda or cuda:N")
    seg.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16", "mixed"],
                     help="network precision: auto = the faithful default (CUDA: fp16 vision encoder and decoder "
                          "with an fp32 UNet; CPU: fp32); fp16/bf16 = the whole network (faster on a GPU but not "
                          "faithful: the single step amplifies UNet rounding ~39x); mixed = bf16 vision encoder and "
                          "decoder with an fp32 UNet (faster on CPUs with bf16 support)")
    seg.add_argument("--fast-decoder", action="store_true",
                     help="opt-in: decode with the model's distilled fast decoder (beyond the paper; see its model card)")
    seg.add_argument("--compile", default="auto", choices=COMPILE_POLICIES,
                     help="GPU kernels: auto = use compiled kernels cached for this model (else eager); aot = build "
                          "them if missing (minutes, once per model, precision and GPU); off = eager")
    seg.add_argument("--batch-size", type=_int_at_least(1), default=None, metavar="N",
                     help="slices per network call (default: chosen by the engine: ~12 decoded images per call on a CPU, from free memory on a GPU)")
    seg.add_argument("--steps", type=_int_at_least(1), default=1, metavar="N", help="sampling steps: 1 = the paper's single step, >1 = DDIM (at most 1000)")
    seg.add_argument("--samples", type=_int_at_least(1), default=1, metavar="N", help="noise samples averaged (>= 2 enables --uncertainty; at most 64)")
    seg.add_argument("--seed", type=_seed, default=0, metavar="S", help="random seed (default 0: reproducible)")
    seg.add_argument("--slices", type=str, default=None, metavar="A:B", help="only slices A..B-1 (0-based)")
    seg.add_argument("--prob-map", metavar="P", help="also write the foreground probability, float32 (multi-class: 1 - P(background))")
    seg.add_argument("--uncertainty", metavar="P", help="also write the per-voxel variance over samples (multi-class: summed over classes; needs --samples >= 2)")
    seg.add_argument("--preview", metavar="P", help="also write a PNG preview (.png)")
    seg.add_argument("--dicom-seg", metavar="P",
                     help="also write a DICOM Segmentation (.dcm, e.g. ct.seg.dcm) referencing the input DICOM "
                          'series, for PACS (DICOM inputs only; pip install "sdseg[dicom]")')
    seg.add_argument("--format", default=None, choices=[e[1:] for e in SEGMENTATION_EXTENSIONS if e != ".dcm"],
                     help="segmentation format when OUT is a folder (default seg.nrrd)")
    seg.add_argument("--frame", type=_frame, default=None, metavar="N|all",
                     help="frame of a 4-D input (time series, multi-echo) or page of a multi-page picture to segment "
                          "(0-based; required for such inputs, ignored by 3-D ones); all = every frame, each written "
                          "as NAME.frame000.seg.nrrd, NAME.frame001.seg.nrrd, ... (also beside a file -o)")
    seg.add_argument("--series", default=None, metavar="UID",
                     help="SeriesInstanceUID to read from a DICOM folder (default: the series of the file named, "
                          "else the series with the most slices; a tie is refused, naming the series); other inputs "
                          "ignore it, and a run without a DICOM input refuses it")
    seg.add_argument("--nan-policy", default="reject", choices=["reject", "fill"],
                     help="NaN/infinite voxels: reject = refuse the input (default); fill = replace them with the "
                          "window minimum (models without a window: the image's finite minimum; colour: 0), with a "
                          "warning")
    seg.add_argument("--strict", action="store_true",
                     help="refuse an input the model was not trained for (colour vs grayscale, another modality "
                          "such as a photo given to a CT model) instead of adapting it with a warning")
    seg.add_argument("--quiet", action="store_true", help="no progress bar and no summary")

    model_examples = (
        "examples:\n  sdseg models list\n  sdseg models info sdseg-demo-ct-lite\n"
        "  sdseg models verify path/to/my-model-folder   # config, model card, sha256 and shapes of every weight file\n"
        "  sdseg models import my-model.zip --sha256 HEX  # into $SDSEG_HOME/models (default ~/.sdseg/models)\n\n"
    )
    models = sub.add_parser("models", parents=[document], help="list, inspect, verify or import models",
                            epilog=model_examples + epilog, formatter_class=fmt)
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)
    msub.add_parser("list", parents=[document], help="models in the registry and the cache")
    info = msub.add_parser("info", parents=[document], help="registry entry and model card of a model")
    info.add_argument("model", metavar="ID|DIR", help="registry id (optionally ID@VERSION) or model folder")
    verify = msub.add_parser("verify", parents=[document], help="check files and sha256 of an installed model")
    verify.add_argument("model", metavar="ID|DIR", help="registry id (optionally ID@VERSION) or model folder")
    imp = msub.add_parser("import", parents=[document], help="install a model zip you downloaded (nothing is downloaded)")
    imp.add_argument("zip", metavar="ZIP", help="the model zip (a folder with config.json, model_card.json and weights)")
    imp.add_argument("--force", action="store_true", help="replace an installed copy of the same id and version")
    imp.add_argument("--sha256", metavar="HEX", help="sha256 the zip must have (as published with it)")

    sub.add_parser("info", parents=[document], help="versions, devices and memory", epilog=epilog, formatter_class=fmt)

    score = sub.add_parser(
        "score", parents=[document], formatter_class=fmt, help="score a segmentation against a reference (Dice, HD95, ...)",
        description=SCORE_DESCRIPTION,
        epilog="examples:\n  sdseg score out/ct.seg.nrrd truth/ct-labels.nii.gz\n"
               "  sdseg score ct.seg.nrrd totalseg.nii.gz --pair liver=5 --pair spleen=1 -o scores.csv\n"
               "  sdseg score results/ labels/ -o test-set.csv     # every case: ct001.seg.nrrd with ct001.nii.gz, ...\n\n" + epilog)
    score.add_argument("prediction", metavar="PREDICTION", help="segmentation to score (.seg.nrrd, DICOM SEG or labelmap), or a folder of them (one per case)")
    score.add_argument("reference", metavar="REFERENCE", help="reference segmentation on the same voxel grid, or a folder of them (paired by file name)")
    score.add_argument("--pair", action="append", default=[], metavar="PRED=REF",
                       help="score segment PRED (name or label value; A+B joins segments into one) against REF; "
                            "repeatable; only these are scored")
    score.add_argument("--match", default="auto", choices=["auto", "name", "value"],
                       help="pairing without --pair: auto = by name when both files name their segments "
                            "(.seg.nrrd, DICOM SEG), else by label value")
    score.add_argument("-o", "--output", metavar="REPORT", help="also write the scores (.json or .csv)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``sdseg``; returns the exit code (see :data:`EXIT_CODES`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    json_mode, debug = "--json" in argv, "--debug" in argv
    reporter = Reporter(json_mode=json_mode)
    try:
        args = build_parser().parse_args(argv)
        if args.version:
            from . import __version__

            Reporter.write(sys.stdout, f"sdseg {__version__}\n")
            return EXIT_OK
        if args.command == "segment":
            from .cli_segment import run_segment

            return run_segment(args)
        if args.command == "models":
            from .cli_models import run_models

            return run_models(args)
        if args.command == "info":
            from .cli_models import run_info

            return run_info(args)
        if args.command == "score":
            from .cli_score import run_score

            return run_score(args)
        build_parser().print_help(sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_OK
    except BaseException as exc:  # one clear line; a traceback only with --debug
        if is_closed_pipe(exc):  # the reader went away (| head): stop quietly, as SIGPIPE would
            discard_closed_streams()
            return EXIT_STREAM_CLOSED
        code = exit_code_for(exc)
        try:
            if debug:
                reporter.print_traceback(exc, "")
            reporter.emit(ProgressEvent("error", message=describe_error(exc), exit_code=code))
            if json_mode and reporter.stdout is not None:  # else the event itself went to stderr as this line
                reporter.write(sys.stderr, printable(f"sdseg: error: {describe_error(exc)}", lines=True) + "\n")
        except (StreamClosed, OSError):  # nobody reads the report (or it cannot be written): the exit code still tells
            discard_closed_streams()
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
