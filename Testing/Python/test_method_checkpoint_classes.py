"""Importing an official checkpoint never drops its class embedding (multi-class rule of the method).

A multi-class SDSeg UNet adds ``label_emb(class)`` to the timestep embedding and runs one pass per
class. With an explicit config that had no classes, the importer used to skip ``label_emb``
(only "reported" as unexpected) and wrote a model folder that either failed to load with a
message about the card, or - with a binary card - ran as a binary model that ignores the class.
"""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers import convert_official_state, import_official_checkpoint
from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state


def test_multiclass_checkpoint_with_a_binary_config_is_refused_naming_the_class_count(tmp_path):
    ckpt = tmp_path / "three_classes.ckpt"
    torch.save({"state_dict": _official_state(tiny_model(num_classes=3, seed=4))}, ckpt)
    with pytest.raises(CheckpointError, match=r"3-class model.*num_classes=3"):
        import_official_checkpoint(ckpt, tmp_path / "model", config=tiny_config(), card=tiny_card())
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("checkpoint_classes, config_classes", [(None, 3), (3, 4)])
def test_class_count_mismatch_is_a_checkpoint_error_not_a_config_json_hint(checkpoint_classes, config_classes):
    state = _official_state(tiny_model(num_classes=checkpoint_classes, seed=5))
    expected = f"num_classes={checkpoint_classes}"
    with pytest.raises(CheckpointError, match=expected):
        convert_official_state(state, tiny_config(num_classes=config_classes), source="x.ckpt")


def test_matching_or_default_config_keeps_the_class_embedding():
    model = tiny_model(num_classes=3, seed=6)
    state = _official_state(model)
    config, parts, report = convert_official_state(state, tiny_config(num_classes=3))
    assert report.unexpected_keys == [] and config.unet.num_classes == 3
    assert torch.equal(parts["unet"]["class_embedding.weight"], model.unet.class_embedding.weight)
    default_config, _, _ = convert_official_state({k: v for k, v in state.items()})
    assert default_config.unet.num_classes == 3
