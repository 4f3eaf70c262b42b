"""Import model zip over an installed copy whose version differs only in letter case.

Versions that differ only in case (``1.0.0-RC1``, ``1.0.0-rc1``) are one version for SDSeg
(``SDSegLogic.model_names.same_version``: one folder on Windows and macOS). The panel's
"already installed?" check looked for the exact folder name (``cache_folder(...).is_dir()``), so on
Linux importing ``1.0.0-rc1`` over an installed ``1.0.0-RC1`` asked nothing, and the engine's import
then refused the zip with "already installed ...; pass --force to replace it", a command-line
option a Slicer user cannot pass. Now the question to replace it is asked, and a yes replaces it.

The real tiny model, zipped as a user makes one; no Slicer needed (``SDSegLib.model_library``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from slicer_logic_helpers import model_folder  # noqa: F401 - model_folder is a pytest fixture; puts SDSegLib on sys.path
from test_slicer_models import _registry, _zip_model


def _with_version(source: Path, folder: Path, version: str) -> Path:
    """A copy of the model folder ``source`` whose card says ``version``."""
    shutil.copytree(source, folder)
    card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    card["version"] = version
    (folder / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    return folder


def test_a_version_installed_in_other_letter_case_is_offered_for_replacement(tmp_path, model_folder):
    from SDSegLib.model_library import import_model_zip

    home = tmp_path / "home"
    _with_version(model_folder, home / "tiny-two" / "1.0.0-RC1", "1.0.0-RC1")  # installed earlier, as import_zip lays it out
    archive = _zip_model(_with_version(model_folder, tmp_path / "new" / "tiny-two", "1.0.0-rc1"), tmp_path / "tiny-two-rc1.zip")

    asked = []
    spec, message = import_model_zip(archive, _registry(), home, confirm_replace=lambda q: asked.append(q) or False)
    assert asked and "already installed" in asked[0] and "1.0.0-RC1" in asked[0], asked  # before: an error naming --force
    assert "--force" not in message and "installed copy is kept" in message, message
    assert [p.name for p in (home / "tiny-two").iterdir() if not p.name.startswith(".")] == ["1.0.0-RC1"]

    spec, message = import_model_zip(archive, _registry(), home, confirm_replace=lambda q: True)
    assert message.startswith("Replaced tiny-two 1.0.0-rc1"), message
    installed = [p.name for p in (home / "tiny-two").iterdir() if not p.name.startswith(".")]
    assert installed == ["1.0.0-rc1"], installed  # one version, under the zip's spelling
    card = json.loads((home / "tiny-two" / "1.0.0-rc1" / "model_card.json").read_text(encoding="utf-8"))
    assert card["version"] == "1.0.0-rc1" and spec in ("tiny-two", "tiny-two@1.0.0-rc1")
