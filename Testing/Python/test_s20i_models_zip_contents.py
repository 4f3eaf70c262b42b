"""A model zip must hold exactly one model and every weight file its card lists; refusals name zip members.

Before: a zip whose card lists a weight file the zip lacks was unpacked whole and then refused naming
``<home>/<id>/.import-XXXX/unet.safetensors``, a staging folder already removed, with no remedy; a zip of two
model folders was called "not an SDSeg model zip"; and a second model in a sub-folder of the model was
installed inside it without a word.
"""

from __future__ import annotations

import shutil

import pytest
from cli_test_helpers import zip_folder

from SDSegLogic.errors import CheckpointError
from SDSegLogic.model_zip import UnsafeArchiveError, import_zip
from SDSegLogic.registry import Registry
from test_registry import home, tiny_folder  # noqa: F401 - pytest fixtures


@pytest.mark.parametrize("prefix", ["", "tiny-test/"])
def test_a_card_naming_a_weight_file_the_zip_lacks_is_refused_naming_the_member(tiny_folder, tmp_path, home, prefix):
    folder = shutil.copytree(tiny_folder, tmp_path / "tiny-test")
    (folder / "unet.safetensors").unlink()
    archive = zip_folder(folder, tmp_path / "incomplete.zip", prefix=prefix)
    with pytest.raises(CheckpointError) as caught:
        import_zip(archive, Registry(), home=home)
    text = str(caught.value)
    assert f"'{prefix}unet.safetensors'" in text and "zip the complete model folder" in text
    assert ".import-" not in text
    assert not (home / "tiny-test").exists()


def test_a_weight_file_named_in_another_letter_case_is_refused_on_every_file_system(tiny_folder, tmp_path, home):
    folder = shutil.copytree(tiny_folder, tmp_path / "tiny-test")
    (folder / "unet.safetensors").rename(folder / "UNet.safetensors")
    with pytest.raises(CheckpointError, match="'unet.safetensors'.*letter case"):
        import_zip(zip_folder(folder, tmp_path / "case.zip"), Registry(), home=home)


def test_a_sha256_mismatch_names_the_member_not_the_removed_staging_folder(tiny_folder, tmp_path, home):
    folder = shutil.copytree(tiny_folder, tmp_path / "tiny-test")
    data = bytearray((folder / "unet.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "unet.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as caught:
        import_zip(zip_folder(folder, tmp_path / "tampered.zip", prefix="m/"), Registry(), home=home)
    assert "m/unet.safetensors: sha256 mismatch" in str(caught.value) and ".import-" not in str(caught.value)


def test_a_zip_of_two_model_folders_is_called_so(tiny_folder, tmp_path, home):
    archive = zip_folder(tiny_folder, tmp_path / "two.zip", prefix="a/",
                         extra=[("b/" + p.name, p.read_bytes()) for p in sorted(tiny_folder.iterdir()) if p.is_file()])
    with pytest.raises(UnsafeArchiveError, match=r"holds 2 models \('a/model_card.json', 'b/model_card.json'\).*one"):
        import_zip(archive, Registry(), home=home)


@pytest.mark.parametrize("prefix", ["", "tiny-test/"])
def test_a_second_model_inside_the_model_folder_is_refused_not_installed(tiny_folder, tmp_path, home, prefix):
    card = (tiny_folder / "model_card.json").read_bytes()
    archive = zip_folder(tiny_folder, tmp_path / "nested.zip", prefix=prefix,
                         extra=[(f"{prefix}other/model_card.json", card)])
    with pytest.raises(UnsafeArchiveError, match=f"'{prefix}other/model_card.json', another model inside"):
        import_zip(archive, Registry(), home=home)
    assert not (home / "tiny-test").exists()
