"""A model zip that does not fit the cache's disk is refused before anything is written, naming the bytes.

The free space comes from ``shutil.disk_usage`` (the operating system's answer), here set to just
below or above what the zip unpacks to; everything else is a real import of a real tiny model zip.
"""

from __future__ import annotations

import shutil
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest
from cli_test_helpers import make_model_folder, zip_folder

from SDSegLogic.cli import main
from SDSegLogic.model_folder import verify_model_folder
from SDSegLogic.model_zip import INSTALL_RECORD, import_zip
from SDSegLogic.registry import Registry

_Usage = namedtuple("_Usage", "total used free")


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("zips")
    folder = make_model_folder(root / "tiny-test")
    other = root / "other"
    shutil.copytree(folder, other)
    (other / "model_card.json").write_text((folder / "model_card.json").read_text().replace("\"task\": \"test\"",
                                                                                            "\"task\": \"second\""))
    return {"first": zip_folder(folder, root / "first.zip"), "second": zip_folder(other, root / "second.zip")}


def _unpacked(archive: Path) -> int:
    with zipfile.ZipFile(archive) as zf:
        return sum(info.file_size for info in zf.infolist() if not info.is_dir())


def _free_space(monkeypatch, free: int, asked: list) -> None:
    def disk_usage(path):
        asked.append(Path(path))
        return _Usage(10 * free + 1, 9 * free + 1, free)

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)


def _tree(home: Path) -> list:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def test_a_zip_larger_than_the_free_space_is_refused_before_writing(archives, tmp_path, monkeypatch):
    home = tmp_path / "models"
    needed = _unpacked(archives["first"])
    asked: list = []
    _free_space(monkeypatch, needed - 1, asked)
    with pytest.raises(OSError) as refused:
        import_zip(archives["first"], Registry(), home)
    message = str(refused.value)
    assert str(needed) in message and str(needed - 1) in message, message  # both numbers, in bytes
    assert "free" in message and "SDSEG_HOME" in message
    assert asked and all(home == p or home in p.parents or p in home.parents for p in asked)
    assert _tree(home) == []  # no staging folder, no model folder, no lock file


def test_a_forced_replacement_that_does_not_fit_keeps_the_installed_copy(archives, tmp_path, monkeypatch):
    home = tmp_path / "models"
    installed = import_zip(archives["first"], Registry(), home).folder
    before = _tree(home)
    _free_space(monkeypatch, _unpacked(archives["second"]) - 1, [])
    with pytest.raises(OSError, match="free"):
        import_zip(archives["second"], Registry(), home, force=True)
    assert _tree(home) == before
    assert verify_model_folder(installed) == [] and "first.zip" in (installed / INSTALL_RECORD).read_text()


def test_enough_free_space_installs(archives, tmp_path, monkeypatch):
    home = tmp_path / "models"
    _free_space(monkeypatch, 2 * _unpacked(archives["first"]) + (1 << 20), [])
    assert verify_model_folder(import_zip(archives["first"], Registry(), home).folder) == []


def test_the_cli_reports_a_full_disk_as_an_output_error(archives, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "sdseg"))
    monkeypatch.delenv("SDSEG_REGISTRY", raising=False)
    _free_space(monkeypatch, 1000, [])
    code = main(["models", "import", str(archives["first"])])
    err = capsys.readouterr().err
    assert code == 6, err  # EXIT_OUTPUT, as when the disk fills while unpacking; not "unexpected error (a bug)"
    assert str(_unpacked(archives["first"])) in err and "1000 bytes free" in err
