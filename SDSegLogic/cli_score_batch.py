"""``sdseg score PREDICTIONS/ REFERENCES/``: score a whole test set, case by case, and summarise.

Files are paired by case name: the file name without its image ending, a ``.seg`` before it and Slicer's
``-label`` (a labelmap volume saved by Slicer is ``<volume>-label.nrrd``) (``ct001.seg.nrrd``,
``ct001.seg.nii.gz``, ``ct001.nii.gz``, ``ct001-label.nrrd`` and ``ct001.seg.dcm`` are all case ``ct001``;
``tête`` composed or decomposed, as a folder copied from macOS may hold it, is one name), so the folder
``sdseg segment`` writes (``results/NAME.seg.nrrd``, or ``NAME.nii.gz`` ... with ``--format``) pairs with a
folder of reference labels named like the scans. Names match exactly first; a case left without a partner
then pairs with one that differs only in letter case (``CT001.seg.nrrd`` with ``ct001.nrrd``, as a folder
from Windows or macOS may hold them) when that partner is the only one on each side, and several such
candidates are refused, naming them. The other files ``sdseg segment`` may write into that folder
(``NAME.prob.nrrd``, ``NAME.uncertainty.nrrd``, ``NAME.preview.png``) are not segmentations and are skipped; two
segmentations of one case in a folder (``ct001.nii.gz`` and ``ct001.seg.nrrd``, or the scan ``ct001.nrrd``
beside Slicer's ``ct001-label.nrrd``) are refused, naming both. A folder that is a DICOM series
(:func:`is_dicom_series_folder`) is one labelmap, scored as a file is, never a folder of one-slice cases; so is
a subfolder that is one (``labels/ct001/slice_*.dcm`` is case ``ct001``), and any other subfolder is reported
as skipped, with the reason.
Each pair is scored as by :func:`~SDSegLogic.cli_score.score_files`; a case that cannot be scored
(another grid, an unreadable file, a segment ``--pair`` names missing from its ``.seg.nrrd``) is
reported with its error and the others go on; a ``--pair`` that fails in every case is a usage error. The summary
gives, per segment, the number of cases and the mean, standard deviation and median Dice over them, and the
median HD95 and mean ASSD over the cases where both masks are non-empty (distances are undefined otherwise;
``HD95 n`` in the table counts them, e.g. ``3/5``); ``mean_dice`` is the mean over cases of each case's mean
Dice. A prediction segment that ``--pair`` compares with several reference segments gets a row per
comparison (``liver = 1``, ``liver = 2``). A label that some labelmap reference of the test set holds is
annotated in every case (without ``--pair``): where a case's reference lacks it, it is an empty target, so the
prediction's false positive there scores Dice 0 and its absence from both files 1 (the method's convention, as
training's metrics count it), scored from the case's one reading of its files; a label no reference holds is listed,
not scored. Binary references saved as 0/1 in some cases and 0/255 in others are one structure in two encodings:
each case then annotates its own reference's value only, with a warning (:mod:`SDSegLogic.score_encodings`). Scores of pictures are in pixels:
a segment scored on pictures and on volumes (mm) in one test set gets no HD95 or ASSD summary, as pixels and mm do
not average (:mod:`SDSegLogic.score_batch_report`); each case keeps its own distances, in its own unit.
"""

from __future__ import annotations

import statistics
import unicodedata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .cli import UsageError, describe_error, exit_code_for
from .cli_outputs import FOLDER_OUTPUT_ENDINGS
from .score_batch_report import batch_csv_rows, batch_text, summary
from .errors import InputError
from .io.sniff import FORMATS

__all__ = ["CASE_SUFFIXES", "SIDE_OUTPUT_SUFFIXES", "case_name", "is_dicom_series_folder", "series_folder_problem",
           "first_case_file",
           "pair_cases", "score_folders", "batch_text", "batch_csv_rows"]

#: endings of segmentation and label files, the readers' (:data:`SDSegLogic.io.sniff.FORMATS`; a longer one such as
#: ``.seg.nrrd`` before its tail): a case is the file name without one of them
CASE_SUFFIXES = tuple(ending for endings in FORMATS.values() for ending in endings)
#: endings of the files ``sdseg segment`` writes beside a segmentation (``--prob-map``, ``--uncertainty``,
#: ``--preview`` given the output folder): a probability map, a variance map and a picture, never a case
SIDE_OUTPUT_SUFFIXES = tuple(ending for kind, ending in FOLDER_OUTPUT_ENDINGS.items() if kind != "dicom_seg")
#: what a segmentation's name may hold between the case and the image ending (``ct001.seg.nii.gz``)
_SEG_MARK = ".seg"
#: what 3D Slicer appends to a volume's name for its labelmap (``ct001-label.nrrd``), compared in any case
_SLICER_LABEL_MARK = "-label"


def case_name(path: Path) -> Optional[str]:
    """``ct001.seg.nrrd``, ``ct001.seg.nii.gz``, ``ct001.nii.gz`` or ``ct001-label.nrrd`` -> ``ct001``; ``None`` for
    any other file.

    Hidden files, the data files of a detached header (``.raw``, ``.gz`` beside ``.nhdr``) and the
    probability maps, uncertainty maps and previews ``sdseg segment`` writes (:data:`SIDE_OUTPUT_SUFFIXES`)
    are skipped.
    """
    lower = path.name.lower()
    if path.name.startswith(".") or not path.is_file() or not lower.endswith(CASE_SUFFIXES) \
            or lower.endswith(SIDE_OUTPUT_SUFFIXES):
        return None
    ending = next(e for e in CASE_SUFFIXES if lower.endswith(e))
    stem = path.name[:-len(ending)]
    for mark in (_SEG_MARK, _SLICER_LABEL_MARK):  # ct001.seg.nii.gz, as ct001.seg.nrrd; Slicer's ct001-label.nrrd
        if stem.lower().endswith(mark) and len(stem) > len(mark):
            stem = stem[:-len(mark)]
    return stem or None


def is_dicom_series_folder(folder: Path) -> bool:
    """True when ``folder`` is one DICOM series (one labelmap), not a folder of cases: the reader lists one series
    in it (``slice_001.dcm``, or ``IM0001`` without an ending), no DICOM SEG, and no case file in another format
    (DICOM files that are no image, such as a dose report, belong to no series). A folder of SEGs, of one
    multi-frame file per case (each its own series) or of other formats is a folder of cases.
    """
    return series_folder_problem(folder) is None


def series_folder_problem(folder: Path) -> Optional[str]:
    """``None`` when ``folder`` is one DICOM series (:func:`is_dicom_series_folder`), else why it is not (a text
    naming a file that decides it, for the report of a skipped case folder).

    The series are listed as the reader lists them (:func:`SDSegLogic.io._dicom.list_series`, GDCM, as
    :mod:`SDSegLogic.io.dicom_sources` does), so a folder is one series exactly when the reader reads it as one:
    DICOM files that are no image (a dose report, a key-object note beside the slices) belong to no series
    there, and are left out of the read with a note, as here.
    """
    from .io._dicom import _bare_uid, _scan_series
    from .io.dicom_seg_read import is_dicom_seg

    other = first_case_file(folder)  # cheap first: a case in another format makes a folder of cases
    if other is not None:
        return f"it holds {other.name}, a file that is not DICOM"
    named = next((p for p in sorted(folder.iterdir()) if p.name.lower().endswith(".seg.dcm") and is_dicom_seg(p)), None)
    if named is not None:  # a folder of SEGs (one a case) needs no header pass over all of them
        return f"it holds the DICOM SEG {named.name}"
    try:
        _, series, headers = _scan_series(folder)
    except InputError:
        return "it holds no DICOM image"
    if len(series) > 1:
        return f"it holds several DICOM series (e.g. {' and '.join(sorted(_bare_uid(uid) or '(no UID)' for uid in series))})"
    for file in (Path(f) for files in series.values() for f in files):
        modality = headers.get(file.name, {}).get("0008|0060", "").strip().upper()  # SEG for every DICOM SEG
        if modality == "SEG" or (not modality and is_dicom_seg(file)):
            return f"it holds the DICOM SEG {file.name}"
    return None


def first_case_file(folder: Path) -> Optional[Path]:
    """The first file of ``folder`` (name order) that is a case in another format than DICOM (``ct001.nii.gz``): such
    a folder is a folder of cases, never a DICOM series; ``None`` when it holds none."""
    from .io.sniff import sniff_content

    for path in sorted(folder.iterdir()):
        if case_name(path) is not None:
            with open(path, "rb") as fh:
                if sniff_content(fh.read(512)) != "dicom":  # DICM at byte 128, or a data set without the preamble
                    return path
    return None


def first_case(folder: Path) -> Optional[Path]:
    """The first case of a folder of cases (name order): a file in another format than DICOM
    (:func:`first_case_file`), else a subfolder that is one DICOM series (``labels/ct001/``); ``None`` when
    ``folder`` holds none, or is itself one DICOM series."""
    example = first_case_file(folder)
    if example is not None or is_dicom_series_folder(folder):
        return example
    return next((path for path in sorted(folder.iterdir()) if path.is_dir() and not path.name.startswith(".")
                 and case_name(path) is None and is_dicom_series_folder(path)), None)


def _cases(folder: Path, skipped: Optional[List[Dict[str, str]]] = None) -> Dict[str, Path]:
    """Case name -> file, or -> subfolder that is one DICOM series (``labels/ct001/slice_*.dcm`` is case ``ct001``);
    names Unicode-normalised (NFC), as a folder copied from macOS may hold them decomposed.

    Args:
        skipped: filled with ``{"path", "reason"}`` for each subfolder (not hidden) that is no DICOM series.
    """
    found: Dict[str, Path] = {}
    paths = sorted(folder.iterdir())
    # last case first: the DICOM listings kept (the most recently used) are then those of the cases scored first
    problems = {path: series_folder_problem(path) for path in reversed(paths)
                if case_name(path) is None and path.is_dir() and not path.name.startswith(".")}
    for path in paths:
        case = case_name(path)
        if path in problems:
            problem = problems[path]
            if problem is None:
                case = path.name
            elif skipped is not None:
                skipped.append({"path": str(path), "reason": f"a folder that is not one DICOM series ({problem}); a "
                                "case is a file, or a folder holding one DICOM series"})
        if case is None:
            continue
        case = unicodedata.normalize("NFC", case)
        if case in found:
            raise UsageError(f"{folder}: {found[case].name} and {path.name} are both case {case!r} (files are paired "
                             "by name without the ending, a .seg before it and Slicer's -label); keep one segmentation "
                             "per case in the folder, e.g. move the scans out of a folder that holds scans and "
                             "segmentations.")
        found[case] = path
    return found


def pair_cases(predictions: Path, references: Path, skipped: Optional[List[Dict[str, str]]] = None
               ) -> Tuple[List[Tuple[str, Path, Path]], List[str], List[str]]:
    """Pair the files (and DICOM series subfolders) of two folders by case name.

    Args:
        skipped: filled with the subfolders that are no case (``{"path", "reason"}``), as :func:`_cases`.

    Returns:
        ``(pairs, prediction_only, reference_only)``: (case, prediction file, reference file) in
        case order, and the case names found on one side only.

    Raises:
        UsageError: no case in common, or two files of one folder with the same case name.
    """
    pred, ref = _cases(predictions, skipped), _cases(references, skipped)
    partner = {case: case for case in set(pred) & set(ref)}  # exact names first
    partner.update(_pair_by_letter_case([c for c in pred if c not in partner],
                                        [c for c in ref if c not in partner.values()], pred, ref))
    if not partner:
        raise UsageError(f"no case of {predictions} ({_files(len(pred))}) has a reference in {references} "
                         f"({_files(len(ref))}); files are paired by name without their ending (ct001.seg.nrrd with "
                         "ct001.nii.gz or ct001-label.nrrd). Rename them so the case names match.")
    return ([(case, pred[case], ref[partner[case]]) for case in sorted(partner)], sorted(set(pred) - set(partner)),
            sorted(set(ref) - set(partner.values())))


def _pair_by_letter_case(pred_left: List[str], ref_left: List[str], pred: Dict[str, Path],
                         ref: Dict[str, Path]) -> Dict[str, str]:
    """Prediction case -> reference case, for cases without an exact partner whose names differ in letter case only
    (``CT001`` and ``ct001``), when that partner is unique on both sides.

    Raises:
        UsageError: a name that several cases of either side share but for letter case, naming their files.
    """
    by_fold: Dict[str, Tuple[List[str], List[str]]] = {}
    for side, cases in ((0, pred_left), (1, ref_left)):
        for case in cases:
            by_fold.setdefault(case.casefold(), ([], []))[side].append(case)
    found = {}
    for preds, refs in by_fold.values():
        if not (preds and refs):
            continue
        if len(preds) > 1 or len(refs) > 1:
            files = [str(pred[c]) for c in sorted(preds)] + [str(ref[c]) for c in sorted(refs)]
            raise UsageError(f"the cases of {', '.join(files)} differ only in letter case, so which prediction goes "
                             "with which reference cannot be told; rename them so each case name matches exactly.")
        found[preds[0]] = refs[0]
    return found


def score_folders(predictions: Path, references: Path, pairs: Sequence[str] = (), match: str = "auto") -> Dict[str, Any]:
    """Score every case two folders share.

    Returns:
        ``cases`` (per case: ``case``, ``prediction``, ``reference`` and either the
        :func:`~SDSegLogic.cli_score.score_files` fields or ``error`` and ``exit_code``),
        ``summary`` per segment, ``mean_dice`` over the scored cases, ``prediction_only`` and
        ``reference_only`` case names, ``skipped`` subfolders that are no case (``path``, ``reason``),
        ``first_error_code`` (0 when every case was scored).
    """
    from .cli_score import score_case

    skipped: List[Dict[str, str]] = []
    matched, pred_only, ref_only = pair_cases(predictions, references, skipped)
    cases: List[Dict[str, Any]] = []
    targets: List[Dict[str, Any]] = []  # per case: its rows against empty targets (cli_score.score_case)
    first_error = 0
    usage_errors: List[UsageError] = []
    empty_targets = not pairs and match != "name"
    for case, pred, ref in matched:
        try:
            report, found = score_case(str(pred), str(ref), pairs, match, empty_targets=empty_targets)
        except Exception as exc:  # noqa: BLE001 - one unreadable case must not stop the test set
            if isinstance(exc, UsageError):
                usage_errors.append(exc)  # a segment --pair names may be missing from one case only
            code = exit_code_for(exc)
            first_error = first_error or code
            cases.append({"case": case, "prediction": str(pred), "reference": str(ref),
                          "error": describe_error(exc), "exit_code": code})
            targets.append({})
            continue
        cases.append({"case": case, **report})
        targets.append(found)
    if len(usage_errors) == len(matched):
        raise usage_errors[0]  # the same mistake (a misspelt --pair) in every case: say it once
    if empty_targets:
        _score_empty_targets(cases, targets)
    scored = [c["mean_dice"] for c in cases if c.get("mean_dice") is not None]
    return {"predictions": str(predictions), "references": str(references), "cases": cases,
            "summary": summary(cases), "mean_dice": statistics.fmean(scored) if scored else None,
            "prediction_only": pred_only, "reference_only": ref_only, "skipped": skipped,
            "first_error_code": first_error}


def _score_empty_targets(cases: List[Dict[str, Any]], targets: Sequence[Dict[str, Any]]) -> None:
    """Score, in place, each case whose labelmap reference lacks a label that another case's reference holds.

    A labelmap holds only the labels it found, and one pair cannot tell a label it lacks from one never annotated;
    the test set can: a label in some reference is annotated in every case, so where a reference lacks it, it is
    an empty target (the prediction's false positive there scores Dice 0, its absence in both files 1, as the
    method's convention and training's metrics count them; :func:`~SDSegLogic.cli_score.pair_segments`). The
    rows come from the first reading of each case (:func:`~SDSegLogic.cli_score.add_empty_targets`): no file is
    read twice.
    """
    from .cli_score import add_empty_targets
    from .score_encodings import case_annotations, encoding_warning, mixed_binary_encodings

    annotated = sorted({v for case in cases for v in (case.get("reference_labels") or [])})
    encodings = mixed_binary_encodings(cases)  # binary masks saved as 0/1 and 0/255: one structure, not two
    for index, (case, found) in enumerate(zip(cases, targets)):
        if "error" not in case:
            own = case_annotations(case, annotated, encodings, list(found.get("rows", {})))
            cases[index] = add_empty_targets(case, found, own)
            if encodings is not None:
                cases[index]["warnings"] = [*cases[index]["warnings"], encoding_warning(encodings)]


def _files(count: int) -> str:
    """``"1 file"``, ``"3 files"``."""
    return f"{count} file" if count == 1 else f"{count} files"
