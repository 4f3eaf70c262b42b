"""``sdseg score`` on large volumes: memory measured with tracemalloc (numpy's allocations are traced).

A test set of CT labelmaps is hundreds of millions of voxels per case; scoring must not hold a
float copy of the volume per step, nor compute whole-image distance maps for a small structure.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.io.readers import read_image
from SDSegLogic.overlap_metrics import segment_scores
from test_score import blob, write_labelmap

SHAPE = (96, 96, 96)  # (K, J, I)
SPACING = (0.8, 0.8, 1.5)


def peak_bytes_per_voxel(call) -> float:
    """Peak traced allocation of ``call()`` (after one warm-up call, so imports do not count), per voxel."""
    call()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / np.prod(SHAPE)
    finally:
        tracemalloc.stop()


def test_distances_of_a_small_structure_cost_its_box_not_the_whole_image():
    a = blob(SHAPE, (40, 50, 47), (5, 6, 4))
    b = blob(SHAPE, (41, 49, 49), (5, 5, 5))
    assert peak_bytes_per_voxel(lambda: segment_scores(a, b, SPACING)) < 2.0  # one bool temporary (the overlap)
    box = (slice(30, 52), slice(40, 60), slice(38, 58))  # the same structures in a small image: the same scores
    small = segment_scores(a[box], b[box], SPACING)
    assert segment_scores(a, b, SPACING) == pytest.approx(small)
    edge = blob(SHAPE, (0, 50, 95), (4, 4, 4))  # touching two image faces: the edge still counts as surface
    near = blob(SHAPE, (2, 52, 92), (3, 3, 3))
    cut = (slice(0, 12), slice(40, 62), slice(80, 96))  # a smaller image with the same two faces
    scores = segment_scores(edge, near, SPACING)
    assert scores == pytest.approx(segment_scores(edge[cut], near[cut], SPACING)) and scores["hd_mm"] > 0


def test_reading_a_labelmap_adds_little_more_than_the_labels(tmp_path):
    """The labelmap check and conversion work slice by slice: the int32 labels are the only full-size addition."""
    labels = np.zeros(SHAPE, np.uint8)
    for value in range(1, 9):
        labels[10 * value:10 * value + 8, 10:80, 5:90] = value
    grid = ImageGeometry(SPACING[::-1], (0.0, 0.0, 0.0), np.eye(3), SHAPE[::-1])
    path = write_labelmap(tmp_path / "labels.nii.gz", labels, grid, dtype=np.uint8)
    image_only = peak_bytes_per_voxel(lambda: read_image(path))
    volume = read_label_volume(path)
    assert [s.value for s in volume.segments] == list(range(1, 9))
    np.testing.assert_array_equal(volume.layers[0], labels)
    assert peak_bytes_per_voxel(lambda: read_label_volume(path)) < image_only + 5.0
