"""Model registry: schema, resolution of ids and folders, and safe zip import."""

from __future__ import annotations

import dataclasses
import json
import re
import os
import stat
import zipfile
from pathlib import Path

import pytest
from cli_test_helpers import copy_model, entry, make_model_folder, write_registry, zip_folder

from SDSegLogic.errors import CheckpointError, InputError, ModelCardError
from SDSegLogic.model_folder import verify_model_folder
from SDSegLogic.model_zip import INSTALL_RECORD, UnsafeArchiveError, import_zip
from SDSegLogic.registry import (
    DEFAULT_MODEL_ID,
    ModelNotFoundError,
    Registry,
    RegistryEntry,
    installed_versions,
    resolve_model,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "Resources" / "models.schema.json"
MODELS = REPO / "Resources" / "models.json"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "tiny-test")


@pytest.fixture()
def home(tmp_path) -> Path:
    return tmp_path / "home"


def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ---------------------------------------------------------------------- schema and parsing
def test_models_json_is_valid_against_its_schema_and_lists_the_default_model():
    validator = _validator()
    data = json.loads(MODELS.read_text(encoding="utf-8"))
    errors = [e.message for e in validator.iter_errors(data)]
    assert errors == []
    registry = Registry.load(MODELS)
    assert DEFAULT_MODEL_ID in registry.ids()
    assert registry.root == REPO


def test_schema_properties_and_registry_entry_fields_agree():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    model = schema["$defs"]["model"]
    fields = {f.name for f in dataclasses.fields(RegistryEntry)}
    assert set(model["properties"]) == fields
    required = {f.name for f in dataclasses.fields(RegistryEntry) if f.default is dataclasses.MISSING}
    assert set(model["required"]) == required



@pytest.mark.parametrize("model_id, version", [
    ("tiny-test", "1.0.0"), ("con", "1.0.0"), ("aux.v2", "1.0.0"), ("lpt9", "1.0.0"), ("tiny.", "1.0.0"),
    ("console", "1.0.0"), ("tiny-test", "1.0.0-rc."), ("tiny-test", "1.0.0-rc.1"), ("Tiny", "1.0.0"),
])
def test_schema_patterns_accept_the_ids_and_versions_the_cache_accepts(model_id, version):
    """A registry that validates against the schema must hold only ids and versions that can name folders."""
    from SDSegLogic.registry import is_folder_safe_id, is_folder_safe_version

    definitions = json.loads(SCHEMA.read_text(encoding="utf-8"))["$defs"]
    assert (re.search(definitions["identifier"]["pattern"], model_id) is not None) == is_folder_safe_id(model_id)
    assert (re.search(definitions["version"]["pattern"], version) is not None) == is_folder_safe_version(version)

BAD_ENTRIES = {
    "path and url": {"path": "Models/x", "url": "https://example.org/m.zip", "sha256": "0" * 64},
    "url without sha256": {"path": None, "url": "https://example.org/m.zip"},
    "short sha256": {"path": None, "url": "https://example.org/m.zip", "sha256": "abc"},
    "parent path": {"path": "../outside"},
    "unknown key": {"colour": "red"},
    "unsafe id": {"id": "Tiny Model"},
    "not semver": {"version": "1.0"},
}


@pytest.mark.parametrize("name", sorted(BAD_ENTRIES))
def test_schema_and_loader_reject_bad_entries(name, tmp_path):
    bad = entry(**BAD_ENTRIES[name])
    bad = {k: v for k, v in bad.items() if v is not None}
    validator = _validator()
    assert list(validator.iter_errors({"format_version": 1, "models": [bad]})), name
    with pytest.raises(ModelCardError):
        Registry.load(write_registry(tmp_path / "Resources" / "models.json", [bad]))


def test_loader_reports_broken_json_and_duplicates(tmp_path):
    path = tmp_path / "Resources" / "models.json"
    path.parent.mkdir()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelCardError, match="not valid JSON"):
        Registry.load(path)
    write_registry(path, [entry(), entry()])
    with pytest.raises(ModelCardError, match="listed twice"):
        Registry.load(path)


# ---------------------------------------------------------------------- resolution
def test_folder_paths_resolve_to_themselves_and_bad_paths_say_why(tiny_folder, tmp_path):
    resolved = resolve_model(str(tiny_folder), Registry())
    assert resolved.folder == tiny_folder and resolved.source == "folder"
    assert (resolved.model_id, resolved.version) == ("tiny-test", "1.0.0")
    with pytest.raises(ModelNotFoundError, match="no such model folder"):
        resolve_model(str(tmp_path / "nope"), Registry())
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve_model(str(tiny_folder / "config.json"), Registry())


def test_unknown_id_lists_known_ids(tmp_path, home):
    registry = Registry.load(write_registry(tmp_path / "Resources" / "models.json", [entry("alpha"), entry("beta")]))
    with pytest.raises(ModelNotFoundError, match="known ids: alpha, beta"):
        resolve_model("gamma", registry, home)


def test_missing_bundled_and_downloadable_models_say_how_to_get_them(tmp_path, home):
    url = "https://example.org/big-1.0.0.zip"
    registry = Registry.load(write_registry(tmp_path / "Resources" / "models.json", [
        entry("bundled-one", obtain="Train it with training/."),
        entry("big", url=url, sha256="a" * 64, size_bytes=2_000_000),
    ]))
    with pytest.raises(ModelNotFoundError, match="bundled folder .*Models/bundled-one does not exist.*Train it"):
        resolve_model("bundled-one", registry, home)
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("big", registry, home)
    text = str(info.value)
    assert url in text and "a" * 64 in text and "sdseg models import" in text and "never downloads" in text
    with pytest.raises(ModelNotFoundError, match="no version '9.9.9'"):
        resolve_model("big@9.9.9", registry, home)


def test_highest_version_wins_and_the_cache_wins_ties(tiny_folder, tmp_path, home):
    registry = Registry.load(write_registry(tmp_path / "Resources" / "models.json", [entry(version="1.0.0")]))
    copy_model(tiny_folder, tmp_path / "Models" / "tiny-test")
    assert resolve_model("tiny-test", registry, home).source == "bundled"
    copy_model(tiny_folder, home / "tiny-test" / "1.0.0")
    assert resolve_model("tiny-test", registry, home).source == "cache"
    for version in ("1.10.0", "1.9.0", "1.10.0-rc1"):
        copy_model(tiny_folder, home / "tiny-test" / version)
    assert installed_versions("tiny-test", home) == ["1.0.0", "1.9.0", "1.10.0-rc1", "1.10.0"]
    assert resolve_model("tiny-test", registry, home).version == "1.10.0"
    pinned = resolve_model("tiny-test@1.0.0", registry, home)
    assert pinned.version == "1.0.0" and pinned.entry is not None


def test_timing_prior_comes_from_the_entry():
    e = RegistryEntry.from_dict(entry(cpu_seconds_per_slice=0.25, gpu_seconds_per_slice=0.01), "test")
    assert e.seconds_per_slice("cpu") == 0.25 and e.seconds_per_slice("cuda") == 0.01
    assert RegistryEntry.from_dict(entry(), "test").seconds_per_slice("cpu") is None


# ---------------------------------------------------------------------- zip import
def _leftovers(home: Path) -> list:
    return sorted(p.name for p in home.iterdir()) if home.exists() else []


@pytest.mark.parametrize("prefix", ["", "tiny-test-1.0.0/"])
def test_import_installs_a_verified_copy(tiny_folder, tmp_path, home, prefix):
    archive = zip_folder(tiny_folder, tmp_path / "m.zip", prefix, extra=[("__MACOSX/._junk", b"x")])
    installed = import_zip(archive, Registry(), home)
    assert installed.folder == home / "tiny-test" / "1.0.0"
    assert verify_model_folder(installed.folder) == []
    record = json.loads((installed.folder / INSTALL_RECORD).read_text())
    assert record["zip_sha256"] == sha256_file(archive)
    assert not (installed.folder / "__MACOSX").exists()
    assert _leftovers(home) == ["tiny-test"]
    assert resolve_model("tiny-test", Registry(), home).source == "cache"


def test_an_imported_model_is_as_readable_as_other_files_under_the_umask(tiny_folder, tmp_path, home):
    """A shared SDSEG_HOME: the extracted folder is not left private (mkdtemp makes 0700)."""
    previous = os.umask(0o022)
    try:
        installed = import_zip(zip_folder(tiny_folder, tmp_path / "m.zip"), Registry(), home)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(installed.folder.stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044 for p in installed.folder.iterdir())


def test_reimport_needs_force(tiny_folder, tmp_path, home):
    archive = zip_folder(tiny_folder, tmp_path / "m.zip")
    import_zip(archive, Registry(), home)
    with pytest.raises(CheckpointError, match="already installed"):
        import_zip(archive, Registry(), home)
    assert import_zip(archive, Registry(), home, force=True).folder.is_dir()
    assert _leftovers(home) == ["tiny-test"]
    assert sorted(p.name for p in (home / "tiny-test").iterdir()) == ["1.0.0"]


def test_zip_sha256_is_checked_against_the_caller_and_the_registry(tiny_folder, tmp_path, home):
    archive = zip_folder(tiny_folder, tmp_path / "m.zip")
    with pytest.raises(CheckpointError, match="differs from the expected"):
        import_zip(archive, Registry(), home, expected_sha256="0" * 64)
    registry = Registry.load(write_registry(tmp_path / "Resources" / "models.json", [
        entry(url="https://example.org/m.zip", sha256="b" * 64),
    ]))
    with pytest.raises(CheckpointError, match="differs from the registry"):
        import_zip(archive, registry, home)
    assert _leftovers(home) == []
    good = Registry.load(write_registry(tmp_path / "Resources" / "models.json", [
        entry(url="https://example.org/m.zip", sha256=sha256_file(archive)),
    ]))
    assert import_zip(archive, good, home, expected_sha256=sha256_file(archive).upper()).entry is not None


def _symlink_member() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("name, member, match", [
    ("zip-slip", "../evil.txt", "'..'"),
    ("nested zip-slip", "sub/../../evil.txt", "'..'"),
    ("absolute", "/tmp/sdseg-evil.txt", "absolute"),
    ("backslash", "..\\evil.txt", "'..'"),  # a backslash separates as in Windows zips: still outside the folder
    ("drive letter", "C:/evil.txt", "drive letter"),
    ("symlink", _symlink_member(), "symbolic link"),
])
def test_unsafe_members_are_refused_before_anything_is_written(tiny_folder, tmp_path, home, name, member, match):
    archive = zip_folder(tiny_folder, tmp_path / "m.zip", extra=[(member, b"/etc/passwd")])
    with pytest.raises(UnsafeArchiveError, match=match):
        import_zip(archive, Registry(), home)
    assert _leftovers(home) == []
    assert not (tmp_path / "evil.txt").exists() and not (home.parent / "evil.txt").exists()


def test_tampered_weights_fail_the_sha256_check(tiny_folder, tmp_path, home):
    bad = copy_model(tiny_folder, tmp_path / "bad")
    weight = bad / "unet.safetensors"
    data = bytearray(weight.read_bytes())
    data[-1] ^= 0xFF
    weight.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="unet.safetensors: sha256 mismatch"):
        import_zip(zip_folder(bad, tmp_path / "m.zip"), Registry(), home)
    assert _leftovers(home) == []


def test_weights_outside_the_folder_and_unsafe_ids_are_refused(tiny_folder, tmp_path, home):
    outside = copy_model(tiny_folder, tmp_path / "outside")
    card = json.loads((outside / "model_card.json").read_text())
    card["weights"] = {("../" + k if k.startswith("autoencoder") else k): v for k, v in card["weights"].items()}
    (outside / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="outside the model folder"):
        import_zip(zip_folder(outside, tmp_path / "a.zip"), Registry(), home)
    sneaky = copy_model(tiny_folder, tmp_path / "sneaky")
    card = json.loads((sneaky / "model_card.json").read_text())
    card["model_id"] = "../../escape"
    (sneaky / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="folder-safe"):
        import_zip(zip_folder(sneaky, tmp_path / "b.zip"), Registry(), home)
    assert _leftovers(home) == []
    assert not (home.parent.parent / "escape").exists()


def test_not_a_zip_missing_zip_and_zip_without_card(tiny_folder, tmp_path, home):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK not really")
    with pytest.raises(CheckpointError, match="not a readable zip"):
        import_zip(junk, Registry(), home)
    with pytest.raises(InputError, match="no such file"):
        import_zip(tmp_path / "absent.zip", Registry(), home)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("a/readme.txt", "hello")
        zf.writestr("b/readme.txt", "hello")
    with pytest.raises(CheckpointError, match="no model_card.json"):
        import_zip(empty, Registry(), home)
    assert _leftovers(home) == []


def test_a_corrupt_member_is_refused_and_nothing_is_left(tiny_folder, tmp_path, home):
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(tiny_folder.iterdir()):
            zf.write(path, path.name)
    data = bytearray(archive.read_bytes())
    tail = (tiny_folder / "unet.safetensors").read_bytes()[-32:]
    where = data.index(tail)
    data[where] ^= 0xFF  # the stored bytes no longer match the member's CRC-32
    archive.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="unet.safetensors' is corrupt"):
        import_zip(archive, Registry(), home)
    assert _leftovers(home) == []
