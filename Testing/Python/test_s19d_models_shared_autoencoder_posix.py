"""The card names a shared autoencoder with ``/`` separators, whatever the system that saved it.

``save_model_folder(shared_autoencoder=...)`` wrote ``os.path.relpath(shared, folder)``: on Windows
``..\\a\\autoencoder.safetensors``, which POSIX reads as one file name in the model folder (the model
does not load on Linux) and the zip import refuses as a member path. The entry is now built by
``shared_weight_entry``, which gives ``../a/autoencoder.safetensors`` for Windows paths too.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath, PureWindowsPath

from engine_test_helpers import tiny_card, tiny_model

from SDSegLogic.model_folder import load_model_folder, save_model_folder


def test_a_windows_path_gives_a_posix_entry():
    from SDSegLogic.shared_autoencoder import shared_weight_entry

    shared = PureWindowsPath(r"C:\Users\me\models\kl-f8-masks\autoencoder.safetensors")
    entry = shared_weight_entry(shared, PureWindowsPath(r"C:\Users\me\models\my-model"))
    assert entry == "../kl-f8-masks/autoencoder.safetensors"
    posix = shared_weight_entry(PurePosixPath("/m/kl-f8-masks/autoencoder.safetensors"), PurePosixPath("/m/my-model"))
    assert posix == entry


def test_a_saved_folder_lists_the_shared_file_with_slashes_and_loads(tmp_path):
    model = tiny_model()
    first = save_model_folder(tmp_path / "a", model, tiny_card())
    second = save_model_folder(tmp_path / "b", model, tiny_card(), shared_autoencoder=first / "autoencoder.safetensors")
    weights = json.loads((second / "model_card.json").read_text())["weights"]
    assert "../a/autoencoder.safetensors" in weights and not any("\\" in key for key in weights)
    loaded, _ = load_model_folder(second)
    assert loaded.component("autoencoder") is not None
