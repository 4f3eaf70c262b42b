"""A shared autoencoder file inside the model folder that ``overwrite`` replaces is refused, not deleted.

``save_model_folder(folder, ..., shared_autoencoder=folder / "autoencoder.safetensors", overwrite=True)``
wrote a card listing ``autoencoder.safetensors``, then replaced the folder whole with the staging folder,
which holds no autoencoder: the shared file was deleted and the saved model could not load
(``verify_model_folder`` reported the file missing). It is refused now, before the folder is touched.
"""

from __future__ import annotations

import pytest

from SDSegLogic.errors import CheckpointError
from SDSegLogic.model_folder import load_model_folder, save_model_folder, verify_model_folder

from engine_test_helpers import tiny_card, tiny_model


@pytest.mark.parametrize("inside", ["autoencoder.safetensors", "shared/autoencoder.safetensors"])
def test_a_shared_file_inside_the_overwritten_folder_is_refused_and_kept(tmp_path, inside):
    model = tiny_model(seed=0)
    folder = save_model_folder(tmp_path / "model", model, tiny_card())
    shared = folder / inside
    if inside != "autoencoder.safetensors":  # a copy kept in a sub-folder of the model folder
        shared.parent.mkdir()
        shared.write_bytes((folder / "autoencoder.safetensors").read_bytes())
    before = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError) as caught:
        save_model_folder(folder, model, tiny_card(), shared_autoencoder=shared, overwrite=True)
    assert str(shared) in str(caught.value) and "inside the model folder" in str(caught.value)
    after = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
    assert verify_model_folder(folder) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left
    load_model_folder(folder)


def test_a_shared_file_beside_the_overwritten_folder_still_works(tmp_path):
    model = tiny_model(seed=0)
    first = save_model_folder(tmp_path / "first", model, tiny_card())
    second = save_model_folder(tmp_path / "second", model, tiny_card())
    save_model_folder(second, model, tiny_card(), shared_autoencoder=first / "autoencoder.safetensors", overwrite=True)
    assert not (second / "autoencoder.safetensors").exists()
    assert verify_model_folder(second) == []
    load_model_folder(second)
