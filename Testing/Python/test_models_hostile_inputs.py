"""Broken and hostile model cards, model zips and legacy checkpoints: refused with a clear message."""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from cli_test_helpers import copy_model, zip_folder
from engine_test_helpers import tiny_card

from SDSegLogic.config import SDSegConfig, preset
from SDSegLogic.errors import CheckpointError, ConfigError, InputError, ModelCardError, WeightsMismatchError
from SDSegLogic.importers.legacy_files import read_state_dict
from SDSegLogic.model_card import ModelCard
from SDSegLogic.model_folder import load_model_folder, move_folder_into_place, sha256_file, verify_model_folder
from SDSegLogic.model_zip import UnsafeArchiveError, import_zip
from SDSegLogic.registry import Registry, RegistryEntry, resolve_model
from test_registry import home, tiny_folder  # noqa: F401 - pytest fixtures (a tiny model folder, a models home)


def _leftovers(home: Path) -> list:
    return sorted(p.name for p in home.iterdir()) if home.exists() else []


def _card(**changes) -> dict:
    data = tiny_card().to_dict()
    for key, value in changes.items():
        if key == "intensity":
            data["intensity"].update(value)
        elif key == "class0":
            data["classes"][0].update(value)
        else:
            data[key] = value
    return data


# ---------------------------------------------------------------------- model card
@pytest.mark.parametrize("changes, match", [
    # an infinite bound maps every voxel to -1; strings compare as text ("90" > "400") and invert the window
    ({"intensity": {"high": float("inf")}}, "finite numbers low < high"),
    ({"intensity": {"low": "400", "high": "90"}}, "finite numbers low < high"),
    ({"class0": {"color": "red"}}, "malformed entry"),
    ({"class0": {"label_value": True}}, "label_value True"),
    ({"class0": {"terminology": {"type": "abc"}}}, "terminology 'type'"),
    ({"model_id": 5}, "model_id 5 must be a non-empty string"),
    ({"version": 1}, "version 1 must be a string"),
    ({"training_size": 32.5}, "training_size 32.5"),
    ({"threshold": "0.5"}, "threshold '0.5'"),
    ({"format_version": "1"}, "format_version '1' must be an integer"),
    ({"weights": ["unet.safetensors"]}, "weights must map"),
    ({"weights": {"unet.safetensors": "not-a-digest"}}, "64 hexadecimal digits"),
])
def test_mistyped_card_fields_are_refused_naming_the_field(changes, match):
    with pytest.raises(ModelCardError, match=match):
        ModelCard.from_dict(_card(**changes), "model_card.json")


def test_duplicate_class_names_are_refused():
    """Voxel counts and name matching key segments by name: a second 'liver' would hide the first."""
    classes = [{"name": "liver", "label_value": 1}, {"name": "Liver ", "label_value": 2}]
    with pytest.raises(ModelCardError, match=r"class names \['Liver ', 'liver'\] are given more than once"):
        ModelCard.from_dict(_card(classes=classes), "model_card.json")


def test_upper_case_sha256_in_the_card_verifies_and_imports(tiny_folder, tmp_path, home):
    """PowerShell's Get-FileHash prints upper-case hex; the loader accepted it but verify called the files corrupt."""
    folder = copy_model(tiny_folder, tmp_path / "upper")
    card = json.loads((folder / "model_card.json").read_text())
    card["weights"] = {name: digest.upper() for name, digest in card["weights"].items()}
    (folder / "model_card.json").write_text(json.dumps(card))
    assert verify_model_folder(folder) == []
    installed = import_zip(zip_folder(folder, tmp_path / "m.zip"), Registry(), home)
    assert verify_model_folder(installed.folder) == []


def test_a_card_with_a_non_string_model_id_is_refused_by_import(tiny_folder, tmp_path, home):
    folder = copy_model(tiny_folder, tmp_path / "numeric-id")
    card = json.loads((folder / "model_card.json").read_text())
    card["model_id"] = 12
    (folder / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="model_id 12"):
        import_zip(zip_folder(folder, tmp_path / "m.zip"), Registry(), home)
    assert _leftovers(home) == []


# ---------------------------------------------------------------------- config.json
@pytest.mark.parametrize("part, key, value, match", [
    (None, "scale_factor", float("inf"), "scale_factor = inf is not a valid float"),  # latents * inf: NaN masks
    (None, "format_version", "1", "format_version '1' must be an integer"),
    (None, "sample_size", 32.0, "sample_size = 32.0 is not a valid int"),
    ("unet", "attention_heads", 0, "unet: attention_heads = 0 is not a valid int"),  # was ZeroDivisionError
    ("unet", "norm_num_groups", 0, "unet: norm_num_groups = 0"),
    ("unet", "block_out_channels", [8.0, 8.0], r"block_out_channels = \(8.0, 8.0\) is not a valid Tuple\[int, ...\]"),
    ("schedule", "num_train_timesteps", "1000", "num_train_timesteps = '1000'"),
    ("autoencoder", "latent_channels", 0, "latent_channels = 0"),
])
def test_mistyped_config_values_are_refused_naming_the_key(part, key, value, match):
    data = preset("tiny").to_dict()
    (data if part is None else data[part])[key] = value
    with pytest.raises(ConfigError, match=match):
        SDSegConfig.from_dict(data, "config.json")


# ---------------------------------------------------------------------- weight files
@pytest.mark.parametrize("dtype", ["int8", "bool"])
def test_an_integer_tensor_for_a_float_parameter_is_refused_naming_key_and_dtype(tiny_folder, tmp_path, dtype):
    """A hand-converted file with a matching card digest: torch raised a bare RuntimeError ('exit 1: a bug')."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = copy_model(tiny_folder, tmp_path / "int")
    state = load_file(str(folder / "unet.safetensors"))
    state["conv_in.weight"] = (state["conv_in.weight"] * 100).to(getattr(torch, dtype))
    save_file(state, str(folder / "unet.safetensors"))
    card = json.loads((folder / "model_card.json").read_text())
    card["weights"]["unet.safetensors"] = sha256_file(folder / "unet.safetensors")
    (folder / "model_card.json").write_text(json.dumps(card))
    expected = f"unet.safetensors: .*wrong dtype 1: conv_in.weight: file {dtype} vs model float32"
    with pytest.raises(WeightsMismatchError, match=expected):
        load_model_folder(folder)


# ---------------------------------------------------------------------- model zip
def test_a_duplicate_member_is_refused_not_silently_overwritten(tiny_folder, tmp_path, home):
    """Two model_card.json members: which one gets installed would depend on the extractor."""
    other = json.loads((tiny_folder / "model_card.json").read_text())
    other["classes"][0]["name"] = "spleen"
    with pytest.warns(UserWarning, match="Duplicate name"):
        archive = zip_folder(tiny_folder, tmp_path / "m.zip", extra=[("model_card.json", json.dumps(other))])
    with pytest.raises(UnsafeArchiveError, match="'model_card.json' appears twice"):
        import_zip(archive, Registry(), home)
    assert _leftovers(home) == []


@pytest.mark.parametrize("first, second", [
    ("unet.safetensors", "UNET.safetensors"),
    ("notes/m\u00f6del.txt", "notes/mo\u0308del.txt"),  # NFC and NFD: one file name on macOS
])
def test_members_differing_only_in_case_or_normalisation_are_refused(tiny_folder, tmp_path, home, first, second):
    extra = [(second, b"junk")] + ([] if first == "unet.safetensors" else [(first, b"text")])
    archive = zip_folder(tiny_folder, tmp_path / "m.zip", extra=extra)
    with pytest.raises(UnsafeArchiveError, match="differing only in case"):
        import_zip(archive, Registry(), home)
    assert _leftovers(home) == []


@pytest.mark.parametrize("extra", [[("x", b"1"), ("x/y", b"2")], [("x/y", b"2"), ("x", b"1")]])
def test_a_file_that_is_also_a_folder_is_refused_before_extraction(tiny_folder, tmp_path, home, extra):
    """Previously a raw FileExistsError / IsADirectoryError ('check that the folder is writable' in the CLI)."""
    archive = zip_folder(tiny_folder, tmp_path / "m.zip", extra=extra)
    with pytest.raises(UnsafeArchiveError, match="'x' is a file but also the folder of member 'x/y'"):
        import_zip(archive, Registry(), home)
    assert _leftovers(home) == []


def _set_method(archive: Path, method: int) -> Path:
    """Rewrite every member's compression method in the local and central headers (as Deflate64 writers do)."""
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = data.find(signature)
        while start >= 0:
            data[start + offset:start + offset + 2] = struct.pack("<H", method)
            start = data.find(signature, start + 4)
    archive.write_bytes(bytes(data))
    return archive


def test_a_deflate64_zip_is_refused_with_a_remedy(tiny_folder, tmp_path, home):
    """Windows Explorer zips large files with Deflate64 (method 9), which Python's zipfile cannot read."""
    archive = _set_method(zip_folder(tiny_folder, tmp_path / "m.zip"), 9)
    assert {info.compress_type for info in zipfile.ZipFile(archive).infolist()} == {9}
    with pytest.raises(CheckpointError, match="compression method 9.*standard Deflate"):
        import_zip(archive, Registry(), home)
    assert _leftovers(home) == []


def test_a_pasted_sha256_with_blanks_is_accepted_and_a_non_digest_is_called_one(tiny_folder, tmp_path, home):
    """'download it again' was the advice for a digest copied with a newline or with the file name after it."""
    archive = zip_folder(tiny_folder, tmp_path / "m.zip")
    with pytest.raises(InputError, match="is not a sha256 digest"):
        import_zip(archive, Registry(), home, expected_sha256=f"{sha256_file(archive)}  m.zip")
    assert _leftovers(home) == []
    assert import_zip(archive, Registry(), home, expected_sha256=f" {sha256_file(archive)}\n").folder.is_dir()


# ---------------------------------------------------------------------- registry ($SDSEG_REGISTRY written by hand)
@pytest.mark.parametrize("key, value", [
    ("deprecated", "false"),  # a non-empty string is true: the newest version was passed over as deprecated
    ("size_bytes", "1700000000"),  # crashed the 'not installed' message with a TypeError
    ("cpu_seconds_per_slice", True),
    ("classes", "liver"),  # became ('l', 'i', 'v', 'e', 'r')
    ("title", 5),
])
def test_registry_entries_with_wrong_types_are_refused_naming_the_key(key, value):
    data = {"id": "tiny-test", "version": "1.0.0", "title": "t", "task": "t", "modality": "CT", "classes": ["liver"],
            "license": "MIT", "path": "Models/tiny-test", key: value}
    with pytest.raises(ModelCardError, match=f"models.json: models\\[0\\]: {key} "):
        RegistryEntry.from_dict(data, "models.json: models[0]")


# ---------------------------------------------------------------------- replacing an installed model
def test_a_failed_replacement_puts_the_old_folder_back(tmp_path):
    """'destination is either the complete old or the complete new folder': not 'gone, renamed to .old'."""
    destination = tmp_path / "1.0.0"
    destination.mkdir()
    (destination / "model_card.json").write_text("old")
    with pytest.raises(FileNotFoundError):
        move_folder_into_place(tmp_path / "vanished-staging", destination)
    assert (destination / "model_card.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.0.0"]


@pytest.fixture()
def other_disk():
    """A folder on another file system than the test's tmp_path (tmpfs /dev/shm), if there is one."""
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tempfile.gettempdir()).st_dev:
        pytest.skip("needs /dev/shm on another file system than the temporary folder")
    folder = Path(tempfile.mkdtemp(prefix="sdseg-test-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_force_import_into_a_model_folder_linked_to_another_disk(tiny_folder, tmp_path, home, other_disk):
    """<home>/<id> is a link to a data disk: the rename failed (EXDEV) and the installed model vanished."""
    archive = zip_folder(tiny_folder, tmp_path / "m.zip")
    (other_disk / "tiny-test").mkdir()
    home.mkdir()
    (home / "tiny-test").symlink_to(other_disk / "tiny-test", target_is_directory=True)
    first = import_zip(archive, Registry(), home)
    assert (other_disk / "tiny-test" / "1.0.0" / "model_card.json").is_file()
    second = import_zip(archive, Registry(), home, force=True)
    assert second.folder == first.folder and verify_model_folder(second.folder) == []
    assert resolve_model("tiny-test", Registry(), home).folder == home / "tiny-test" / "1.0.0"
    assert sorted(p.name for p in (other_disk / "tiny-test").iterdir()) == ["1.0.0"]
    assert _leftovers(home) == ["tiny-test"]


# ---------------------------------------------------------------------- legacy checkpoints
def test_an_empty_checkpoint_file_is_refused_with_a_clear_message(tmp_path):
    """An interrupted download leaves a 0-byte .ckpt: torch raises EOFError with no message."""
    empty = tmp_path / "model.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"model.ckpt: cannot be read safely .*EOFError.*download it again"):
        read_state_dict(empty)


def test_non_string_keys_of_a_checkpoint_are_dropped(tmp_path):
    import torch

    path = tmp_path / "odd.ckpt"
    torch.save({1: torch.zeros(1), "scale_factor": torch.tensor(0.5)}, path)
    assert list(read_state_dict(path)) == ["scale_factor"]
