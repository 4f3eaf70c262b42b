"""Model zips written with ``\\`` separators install; an empty model spec and ``ModelCard.source`` are honest.

* PowerShell 5's ``Compress-Archive`` writes member names such as ``model\\config.json``. Python's
  ``zipfile`` reads ``\\`` as a separator on Windows only, so such a zip was refused elsewhere as a
  "malformed path" with no reason given. It now installs everywhere, with the same path checks.
* ``resolve_model("")`` (or blanks) read the current folder as the model folder.
* ``ModelCard.source`` read the class default ``"model card"`` on every card.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile

import pytest
from cli_test_helpers import make_model_folder

from SDSegLogic.model_card import ModelCard
from SDSegLogic.model_zip import UnsafeArchiveError, import_zip
from SDSegLogic.registry import ModelNotFoundError, Registry, resolve_model


def _zip_with_backslashes(folder, archive, prefix="tiny-test\\", extra=(), folder_entries=False):
    """Zip ``folder`` as older Windows tools do: ``\\`` between the parts of every member name."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        if folder_entries and prefix:
            zf.writestr(prefix, b"")
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.writestr(prefix + "\\".join(path.relative_to(folder).parts), path.read_bytes())
        for name, data in extra:
            zf.writestr(name, data)
    return archive


@pytest.mark.parametrize("prefix", ["", "tiny-test\\"])
@pytest.mark.parametrize("folder_entries", [False, True])
def test_a_zip_with_backslash_separators_installs_the_same_files(tmp_path, prefix, folder_entries):
    folder = make_model_folder(tmp_path / "model")
    archive = _zip_with_backslashes(folder, tmp_path / "model.zip", prefix, extra=[(prefix + "docs\\notes.txt", b"n")],
                                    folder_entries=folder_entries)
    with zipfile.ZipFile(archive) as zf:
        assert any("\\" in name for name in zf.namelist())  # the case under test, on this system
    installed = import_zip(archive, Registry(), tmp_path / "home")
    expected = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    got = sorted(p.relative_to(installed.folder).as_posix() for p in installed.folder.rglob("*")
                 if p.is_file() and p.name != ".sdseg-install.json")
    assert got == sorted(expected + ["docs/notes.txt"])
    for rel in expected:
        assert (installed.folder / rel).read_bytes() == (folder / rel).read_bytes()


@pytest.mark.parametrize("evil", ["..\\..\\evil.txt", "tiny-test\\..\\..\\evil.txt", "\\evil.txt", "C:\\evil.txt",
                                  "tiny-test\\.\\x.txt", "tiny-test\\\\x.txt"])
def test_backslash_paths_leaving_the_folder_are_still_refused(tmp_path, evil):
    folder = make_model_folder(tmp_path / "model")
    archive = _zip_with_backslashes(folder, tmp_path / "model.zip", extra=[(evil, b"x")])
    home = tmp_path / "home"
    with pytest.raises(UnsafeArchiveError) as caught:
        import_zip(archive, Registry(), home)
    assert repr(evil) in str(caught.value)
    assert not (tmp_path / "evil.txt").exists()
    assert not home.exists() or not any(home.rglob("*.txt"))


@pytest.mark.parametrize("member, cause", [("../evil.txt", "'..' component"), ("/evil.txt", "absolute path"),
                                           ("C:/evil.txt", "drive letter"), ("tiny-test/./x.txt", "'.' component"),
                                           ("tiny-test//x.txt", "empty or '.' component")])
def test_a_refused_member_path_names_its_cause(tmp_path, member, cause):
    folder = make_model_folder(tmp_path / "model")
    archive = _zip_with_backslashes(folder, tmp_path / "model.zip", prefix="tiny-test/", extra=[(member, b"x")])
    with pytest.raises(UnsafeArchiveError) as caught:
        import_zip(archive, Registry(), tmp_path / "home")
    assert repr(member) in str(caught.value) and cause in str(caught.value)


@pytest.mark.parametrize("spec", ["", " ", "\t"])
def test_an_empty_model_spec_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, spec):
    make_model_folder(tmp_path / "cwd-model")
    monkeypatch.chdir(tmp_path / "cwd-model")  # a real model folder: the empty spec must still not pick it
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model(spec, Registry(), tmp_path / "home")
    assert "empty" in str(caught.value)


def test_a_card_remembers_what_gave_its_values_without_writing_or_comparing_it(tmp_path):
    folder = make_model_folder(tmp_path / "model")
    path = folder / "model_card.json"
    card = ModelCard.from_json(path)
    assert card.source == str(path)
    assert ModelCard.from_dict(json.loads(path.read_text(encoding="utf-8"))).source == "model card"
    other = ModelCard.from_dict(json.loads(path.read_text(encoding="utf-8")), source="elsewhere")
    assert other == card and other.source == "elsewhere"
    assert "source" not in card.to_dict() and "source" not in [f.name for f in dataclasses.fields(card)]
    card.to_json(tmp_path / "again.json")
    assert "source" not in json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    changed = dataclasses.replace(card, version="2.0.0")
    assert changed.version == "2.0.0" and changed.source == str(path)
    assert card.replace(version="3.0.0").version == "3.0.0"
