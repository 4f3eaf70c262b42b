"""A model zip's config.json is bounded like its model card before anything is unpacked.

``config.json`` is read whole (``json.loads(read_text())``) by the import's verification and by
every later load or listing of the model. A 0.6 MB zip holding a 300 MB config.json (valid JSON
padded with blanks) used to install, costing the import about 600 MB of memory (measured peak RSS
404 -> 1008 MB; a few MB of zip reach gigabytes). Such an archive is now refused from its header,
before anything is written, as an oversized model_card.json already was.
"""

from __future__ import annotations

import zipfile

import pytest
from cli_test_helpers import make_model_folder

from SDSegLogic import model_zip_members
from SDSegLogic.model_zip import UnsafeArchiveError, import_zip
from SDSegLogic.registry import Registry

MAX_CONFIG_BYTES = 1 << 20  # model_zip_members.MAX_CONFIG_BYTES, as the model card's limit


def _zip_with_padded_config(folder, archive, size: int, prefix: str = ""):
    """The model folder zipped with its config.json padded with blanks to ``size`` bytes (still valid JSON)."""
    text = (folder / "config.json").read_text(encoding="utf-8").rstrip()
    assert text.endswith("}")
    padded = text[:-1] + " " * (size - len(text.encode("utf-8"))) + "}"
    assert len(padded.encode("utf-8")) == size
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            if path.name != "config.json":
                zf.write(path, prefix + path.name)
        zf.writestr(prefix + "config.json", padded)
    return archive


@pytest.mark.parametrize("prefix", ["", "tiny-test/"])
def test_an_oversized_config_json_is_refused_before_anything_is_written(tmp_path, prefix):
    folder = make_model_folder(tmp_path / "m")
    archive = _zip_with_padded_config(folder, tmp_path / "m.zip", MAX_CONFIG_BYTES + 1, prefix)
    with zipfile.ZipFile(archive) as zf:  # blanks compress: a small download
        assert zf.getinfo(prefix + "config.json").compress_size < MAX_CONFIG_BYTES // 100
    home = tmp_path / "home"
    with pytest.raises(UnsafeArchiveError, match=r"config\.json unpacks to .* bytes"):
        import_zip(archive, Registry(), home)
    assert not home.exists() or not any(home.iterdir())


def test_a_config_json_at_the_limit_still_imports(tmp_path):
    assert model_zip_members.MAX_CONFIG_BYTES == MAX_CONFIG_BYTES == model_zip_members.MAX_CARD_BYTES
    folder = make_model_folder(tmp_path / "m")
    archive = _zip_with_padded_config(folder, tmp_path / "m.zip", MAX_CONFIG_BYTES)
    installed = import_zip(archive, Registry(), tmp_path / "home")
    assert (installed.folder / "config.json").stat().st_size == MAX_CONFIG_BYTES
