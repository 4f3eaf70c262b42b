"""Which labels each case of a test set annotates, when binary reference masks mix two encodings.

A test set of labelmap references annotates, in every case, each label some reference holds: a case whose
reference lacks it has an empty target there (:func:`SDSegLogic.cli_score_batch.score_folders`). Binary masks,
though, are often saved with foreground 1 in some files and 255 in others (a PNG mask scaled for viewing): then 1
and 255 are one structure in two encodings, not two classes, and counting the other value as an empty target in
each case would add a free "empty in both" row (Dice 1) per case and inflate that value's mean Dice.

Such a test set is recognised when every reference holds at most one label, 1 in some and 255 in others: a case
then annotates only the value its own reference uses; a case whose reference is empty annotates the values of
the two its prediction holds, else the encoding most references use (1 on a tie), so that a false positive still
scores 0 and an empty pair 1, once. A warning names the cases of each encoding and the remedy. A reference holding
both 1 and 255 makes them two classes: the test set is then scored as any multi-class one.

One file pair in two encodings (the prediction a 0/1 mask, the reference a 0/255 one, or the other way round)
scores Dice 0 against an empty segment: :func:`pair_encoding_warning` says why and how to pair them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["BINARY_ENCODINGS", "mixed_binary_encodings", "case_annotations", "encoding_warning",
           "pair_encoding_warning"]

#: the two foreground values of a binary mask: 0/1 (a labelmap) and 0/255 (a picture scaled for viewing)
BINARY_ENCODINGS = (1, 255)


def mixed_binary_encodings(cases: Sequence[Dict[str, Any]]) -> Optional[Dict[int, List[str]]]:
    """Encoding -> case names, when the scored cases' labelmap references are binary masks in both encodings.

    Args:
        cases: :func:`~SDSegLogic.cli_score_batch.score_folders`'s cases (``case``, ``reference_labels``; a failed
            case has ``error``).

    Returns:
        ``{1: [cases], 255: [cases]}`` when every scored reference is a labelmap holding at most one label, each
        1 or 255, and both occur; else ``None`` (a multi-class test set, or one encoding only).
    """
    found: Dict[int, List[str]] = {value: [] for value in BINARY_ENCODINGS}
    for case in cases:
        if "error" in case:
            continue
        labels = case.get("reference_labels")
        if labels is None or len(labels) > 1 or not set(labels) <= set(BINARY_ENCODINGS):
            return None
        for value in labels:
            found[int(value)].append(case["case"])
    return found if all(found.values()) else None


def case_annotations(case: Dict[str, Any], annotated: Sequence[int], encodings: Optional[Dict[int, List[str]]],
                     prediction_labels: Sequence[int]) -> Tuple[int, ...]:
    """The labels ``case`` annotates: the test set's ``annotated``, or with mixed ``encodings`` one of the two.

    Args:
        case: a scored case (``reference_labels``).
        annotated: every label some reference of the test set holds.
        encodings: :func:`mixed_binary_encodings`'s answer.
        prediction_labels: the label values the case's prediction holds.
    """
    if encodings is None:
        return tuple(annotated)
    own = [int(v) for v in case.get("reference_labels") or []]
    if own:
        return tuple(own)
    held = tuple(v for v in BINARY_ENCODINGS if v in {int(p) for p in prediction_labels})
    if held:
        return held
    return (max(BINARY_ENCODINGS, key=lambda v: (len(encodings[v]), -v)),)


def encoding_warning(encodings: Dict[int, List[str]]) -> str:
    """The warning each case of a test set with mixed binary encodings carries, naming the cases of each."""

    def cases(names: List[str]) -> str:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"case{'s' if len(names) > 1 else ''} {shown}"

    return ("the references are binary masks in two encodings: foreground 1 (0/1) in "
            f"{cases(encodings[1])}, foreground 255 (0/255) in {cases(encodings[255])}. Each case is scored on its "
            "own reference's value only (the other value is not counted as an empty target). A prediction in the "
            "other encoding than its reference scores as a miss: re-save the masks with one foreground value, or "
            "score the two values as one segment with --pair \"1+255=1+255\".")


def pair_encoding_warning(prediction: Any, reference: Any) -> Optional[str]:
    """A warning when two labelmaps are binary masks in the two encodings (one holds only 1, the other only 255).

    Paired by value, such files compare nothing: each label is scored against an empty segment (Dice 0). The
    warning names both files and their foreground values, and the ``--pair`` that scores them as one structure.

    Args:
        prediction, reference: :class:`~SDSegLogic.io.label_files.LabelVolume` (``named``, ``segments``, ``path``).

    Returns:
        The text, or ``None`` when either file has names, several labels, or both use one encoding.
    """
    if prediction.named or reference.named:
        return None
    values = [tuple(s.value for s in volume.segments) for volume in (prediction, reference)]
    if sorted(v for found in values for v in found) != list(BINARY_ENCODINGS) or not all(values):
        return None
    (mine,), (theirs,) = values
    return (f"the prediction {prediction.path} is a binary mask with foreground {mine} (0/{mine}) and the reference "
            f"{reference.path} one with foreground {theirs} (0/{theirs}), two encodings of one mask, so no label value "
            f"is in both and each scores against an empty segment. To score them as one structure: --pair "
            f"{mine}={theirs} (for folders of such masks: --pair \"1+255=1+255\"), or re-save the masks with one "
            "foreground value.")
