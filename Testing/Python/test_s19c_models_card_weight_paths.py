"""A model card's ``weights`` may not make a model folder read a file outside itself.

An absolute path, or a ``..`` path to anything but the shared autoencoder, was accepted by the card,
by ``load_model_folder`` and by ``verify_model_folder`` (the file of another folder was loaded),
although the card's own message says "relative file name" and the zip import refuses it.
"""

from __future__ import annotations

import json

import pytest

from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_folder import load_model_folder, save_model_folder, verify_model_folder

from engine_test_helpers import tiny_card, tiny_model


def _two_folders(tmp_path):
    model = tiny_model()
    return model, save_model_folder(tmp_path / "a", model, tiny_card()), save_model_folder(tmp_path / "b", model, tiny_card())


def _point_unet_at(folder, target: str) -> str:
    """Rewrite ``folder``'s card so its UNet entry is ``target`` (same digest) and delete the folder's own UNet."""
    card_path = folder / "model_card.json"
    card = json.loads(card_path.read_text())
    card["weights"][target] = card["weights"].pop("unet.safetensors")
    card_path.write_text(json.dumps(card))
    (folder / "unet.safetensors").unlink()
    return str(card_path)


@pytest.mark.parametrize("kind", ["absolute", "dotdot"])
def test_weight_path_outside_the_folder_is_refused_naming_card_value_and_remedy(tmp_path, kind):
    _, first, second = _two_folders(tmp_path)
    target = str((first / "unet.safetensors").resolve()) if kind == "absolute" else "../a/unet.safetensors"
    card_path = _point_unet_at(second, target)
    with pytest.raises(ModelCardError) as caught:
        load_model_folder(second)
    message = str(caught.value)
    assert card_path in message and repr(target) in message
    assert "inside" in message or "outside" in message
    assert "Copy" in message or "copy" in message  # the remedy
    problems = verify_model_folder(second)
    assert len(problems) == 1 and repr(target) in problems[0]


def test_windows_absolute_forms_are_refused_by_the_card():
    digest = "0" * 64
    for target in ("C:\\models\\unet.safetensors", "C:unet.safetensors", "\\\\server\\share\\unet.safetensors"):
        with pytest.raises(ModelCardError, match="absolute"):
            tiny_card().replace(weights={target: digest})


def test_shared_autoencoder_reference_still_loads(tmp_path):
    model = tiny_model()
    first = save_model_folder(tmp_path / "a", model, tiny_card())
    second = save_model_folder(tmp_path / "b", model, tiny_card(), shared_autoencoder=first / "autoencoder.safetensors")
    _, card = load_model_folder(second)
    assert "../a/autoencoder.safetensors" in card.weights
    assert verify_model_folder(second) == []
