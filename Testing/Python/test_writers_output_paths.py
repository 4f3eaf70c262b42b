"""Audit: an output path whose parent is a file is refused as a bad output path.

``check_output_path`` only checked that the parent existed, so every writer went on to create its
temporary file inside a FILE and failed with a bare ``NotADirectoryError`` naming a temporary
``.sdseg-*`` file the user never asked for, instead of the documented :class:`InputError`.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from io_test_helpers import geometry_for, make_card

from SDSegLogic.errors import InputError
from SDSegLogic.io import write_float_volume, write_preview, write_segmentation
from SDSegLogic.io.readers import image_data_from_array

pytest.importorskip("PIL")


def _writers():
    card = make_card(1)
    geometry = geometry_for(np.eye(3), shape_kji=(2, 3, 4))
    labels = np.zeros(geometry.array_shape, np.uint8)
    labels[1, 1, 2] = 1
    result = SimpleNamespace(labels=labels, geometry=geometry, seed=1, num_inference_steps=1, num_samples=1,
                             warnings=[])
    image = image_data_from_array(np.where(labels > 0, 200.0, -1000.0).astype(np.float32), geometry)
    return {
        "out.seg.nrrd": lambda path: write_segmentation(path, result, card),
        "labels.nii.gz": lambda path: write_segmentation(path, result, card),
        "prob.nrrd": lambda path: write_float_volume(path, labels.astype(np.float32), geometry),
        "preview.png": lambda path: write_preview(path, image, result, card),
    }


@pytest.mark.parametrize("name", sorted(_writers()))
def test_an_output_inside_a_file_is_an_input_error_naming_that_file(tmp_path, name):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="notes.txt is a file, not a folder"):
        _writers()[name](blocker / name)
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
