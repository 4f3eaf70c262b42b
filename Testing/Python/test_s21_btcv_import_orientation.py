"""Importing official BTCV weights gives the card the orientation of the official slices.

The official BTCV slices are the stored NIfTI voxel array (``get_fdata()[:, :, k]``), the transpose of
an LPS slice for the BTCV files (stored LPS): ``test_s21g_btcv_official_slice_orientation`` shows that
the card orientation ``"PLS"`` gives the engine exactly that slice. An import with ``dataset="synapse-b"``
(or ``"synapse-m"``) must therefore write ``"PLS"``, or a model imported from official weights sees
every slice transposed; a card given with another orientation is warned about (it depends on how the
user's files are stored, so it is not refused).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from SDSegLogic.geometry import reorient
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.importers.official_checkpoint import OFFICIAL_IMAGE_RESIZE, OFFICIAL_ORIENTATION
from SDSegLogic.model_card import ModelCard
from engine_test_helpers import tiny_card, tiny_config, tiny_model
from io_test_helpers import geometry_for
from test_importers import _official_state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("official") / "btcv.ckpt"
    torch.save({"state_dict": _official_state(tiny_model(seed=3))}, path)
    return path


@pytest.mark.parametrize("dataset", sorted(OFFICIAL_IMAGE_RESIZE))
def test_the_placeholder_card_slices_as_the_official_code(checkpoint, tmp_path, dataset):
    report = import_official_checkpoint(checkpoint, tmp_path / "model", config=tiny_config(), dataset=dataset)
    card = ModelCard.from_json(report.folder / "model_card.json")
    expected = "PLS" if dataset.startswith("synapse") else "LPS"
    assert card.orientation == expected
    if expected == "PLS":  # the card's orientation turns an LPS volume's slice k into the stored array's [:, :, k]
        volume = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)  # (K, J, I) in LPS, non-square slices
        stored = np.transpose(volume, (2, 1, 0))  # nibabel's (I, J, K) array of a file stored LPS
        fed, _, _ = reorient(volume, geometry_for(np.eye(3), shape_kji=volume.shape), card.orientation)
        for k in range(volume.shape[0]):
            np.testing.assert_array_equal(fed[k], stored[:, :, k])


def test_a_btcv_card_with_another_orientation_is_warned_and_a_matching_one_is_not(checkpoint, tmp_path):
    card = tiny_card().replace(image_resize=OFFICIAL_IMAGE_RESIZE["synapse-m"])
    with pytest.warns(UserWarning, match="orientation is 'LPS'.*'PLS'"):
        import_official_checkpoint(checkpoint, tmp_path / "a", card=card, config=tiny_config(), dataset="synapse-m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = import_official_checkpoint(checkpoint, tmp_path / "b", card=card.replace(orientation="PLS"),
                                            config=tiny_config(), dataset="synapse-m")
    assert ModelCard.from_json(report.folder / "model_card.json").orientation == "PLS"
    assert set(OFFICIAL_ORIENTATION) == {"synapse-b", "synapse-m"}
