"""A cache version folder that is a symbolic link (the model kept on another disk) and ``--force`` imports.

Replacing it renamed the link aside to ``.<version>.old``, then ``shutil.rmtree`` refused to remove a
link and the error was ignored: the link stayed, and every later ``--force`` import of that version
failed with "Not a directory" (``os.replace`` of a folder onto the leftover link). Only the link may
go; the folder it points to is the user's and stays as it is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from cli_test_helpers import make_model_folder, zip_folder

from SDSegLogic.model_folder import verify_model_folder
from SDSegLogic.model_zip import INSTALL_RECORD, import_zip
from SDSegLogic.registry import Registry

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symbolic links")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("zips")
    folder = make_model_folder(root / "tiny-test")
    return {"folder": folder, "zip": zip_folder(folder, root / "tiny.zip")}


def _linked_install(model: dict, tmp_path: Path) -> tuple:
    home, elsewhere = tmp_path / "models", tmp_path / "other-disk" / "1.0.0"
    shutil.copytree(model["folder"], elsewhere)
    (home / "tiny-test").mkdir(parents=True)
    os.symlink(elsewhere, home / "tiny-test" / "1.0.0")
    return home, elsewhere


def test_forced_imports_over_a_linked_version_leave_no_link_behind_and_keep_its_target(model, tmp_path):
    home, elsewhere = _linked_install(model, tmp_path)
    for _ in range(2):  # the second one failed with "Not a directory"
        installed = import_zip(model["zip"], Registry(), home, force=True)
        assert sorted(os.listdir(home / "tiny-test")) == ["1.0.0"]
        assert not installed.folder.is_symlink() and (installed.folder / INSTALL_RECORD).is_file()
        assert verify_model_folder(installed.folder) == []
    assert verify_model_folder(elsewhere) == [] and not (elsewhere / INSTALL_RECORD).exists()  # untouched


def test_a_link_left_aside_by_an_earlier_import_is_cleared(model, tmp_path):
    home, elsewhere = _linked_install(model, tmp_path)
    import_zip(model["zip"], Registry(), home, force=True)
    os.symlink(elsewhere, home / "tiny-test" / ".1.0.0.old")  # what earlier SDSeg versions left
    installed = import_zip(model["zip"], Registry(), home, force=True)
    assert sorted(os.listdir(home / "tiny-test")) == ["1.0.0"] and verify_model_folder(installed.folder) == []
    assert verify_model_folder(elsewhere) == []
