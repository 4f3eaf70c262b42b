"""Audit: every segment of a ``.seg.nrrd`` survives 3D Slicer's reading rule.

3D Slicer (``vtkMRMLSegmentationStorageNode::ReadBinaryLabelmapRepresentation``) builds ONE
labelmap per layer, cropped to the ``SegmentN_Extent`` of the first segment listed in that layer,
and every segment of the layer shares it (slicerio's ``extract_segments`` names this and writes
the full extent for it). The writer used to give each segment its own bounding box, so Slicer
showed the second and later classes cropped to the first one's box, and all of them empty when
the first class was not found.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Dict

import numpy as np
import pytest
from io_test_helpers import geometry_for, make_card, rotation

from SDSegLogic.io import write_segmentation

nrrd = pytest.importorskip("nrrd")

SHAPE_KJI = (5, 9, 11)


def _slicer_segments(path) -> Dict[str, np.ndarray]:
    """Each segment's mask (K, J, I) as 3D Slicer reads the file: per layer, the first segment's extent crops all.

    The extent is ``i0 i1 j0 j1 k0 k1`` (inclusive); an empty one (``i1 < i0`` ...) gives an empty labelmap.
    """
    voxels, header = nrrd.read(str(path), index_order="C")  # (K, J, I) or (layers, K, J, I)
    count = 0
    while f"Segment{count}_ID" in header:
        count += 1
    by_layer: Dict[int, list] = {}
    for index in range(count):
        by_layer.setdefault(int(header.get(f"Segment{index}_Layer", index)), []).append(index)
    masks = {}
    for layer, members in by_layer.items():
        volume = voxels if voxels.ndim == 3 else voxels[layer]
        i0, i1, j0, j1, k0, k1 = (int(v) for v in header[f"Segment{members[0]}_Extent"].split())
        kept = np.zeros_like(volume)
        if i0 <= i1 and j0 <= j1 and k0 <= k1:
            kept[k0:k1 + 1, j0:j1 + 1, i0:i1 + 1] = volume[k0:k1 + 1, j0:j1 + 1, i0:i1 + 1]
        for index in members:
            masks[header[f"Segment{index}_Name"]] = kept == int(header[f"Segment{index}_LabelValue"])
    return masks


def _write(tmp_path, labels: np.ndarray, card) -> object:
    geometry = geometry_for(rotation(20, 10), shape_kji=SHAPE_KJI)
    result = SimpleNamespace(labels=labels, geometry=geometry, seed=3, num_inference_steps=1, num_samples=1,
                             warnings=[])
    return write_segmentation(tmp_path / "out.seg.nrrd", result, card)


@pytest.mark.parametrize("first_found", [True, False], ids=["classes-in-opposite-corners", "first-class-not-found"])
def test_slicer_keeps_every_segment_of_the_shared_layer(tmp_path, first_found):
    card = make_card(3)
    labels = np.zeros(SHAPE_KJI, np.uint8)
    if first_found:
        labels[0, 0:2, 0:2] = 1  # liver in one corner
    labels[2, 4, 5] = 2  # spleen in the middle
    labels[4, 7:9, 8:11] = 3  # kidney in the opposite corner
    masks = _slicer_segments(_write(tmp_path, labels, card))
    assert set(masks) == {c.name for c in card.classes}
    for segment in card.classes:
        assert np.array_equal(masks[segment.name], labels == segment.label_value), \
            f"Slicer would load {segment.name!r} with {int(masks[segment.name].sum())} of " \
            f"{int((labels == segment.label_value).sum())} voxels"


def test_an_empty_result_reads_as_empty_segments(tmp_path):
    card = make_card(2)
    path = _write(tmp_path, np.zeros(SHAPE_KJI, np.uint8), card)
    masks = _slicer_segments(path)
    assert set(masks) == {"liver", "spleen"} and not any(m.any() for m in masks.values())
    header = nrrd.read_header(str(path))
    assert {header[f"Segment{n}_Extent"] for n in range(2)} == {"0 -1 0 -1 0 -1"}
