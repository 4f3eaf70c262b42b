"""The Slicer extension's packaging: CMake lists, catalog entry, icons, and import boundaries.

These are the mistakes a Slicer build only reveals on the factory: a helper missing from
``MODULE_PYTHON_SCRIPTS`` is silently not installed (Slicer python_faq), a catalog entry with an
unknown key fails the ExtensionsIndex check, and an engine module importing ``slicer`` breaks the
engine process (PythonSlicer has no scene).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "SDSegExtension"
# keys of Slicer's Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json (additionalProperties: false)
CATALOG_KEYS = {"$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies", "dicom_support_rule",
                "build_subdirectory", "enabled", "tier"}


def _cmake_list(text: str, variable: str) -> list:
    body = re.search(rf"set\({variable}\s+(.*?)\)", text, re.S).group(1)
    return [token.replace("${MODULE_NAME}", "SDSeg") for token in body.split() if not token.startswith("#")]


def test_module_cmake_lists_every_helper_and_resource():
    text = (MODULE / "CMakeLists.txt").read_text(encoding="utf-8")
    scripts = _cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    on_disk = {"SDSeg.py"} | {f"SDSegLib/{p.name}" for p in (MODULE / "SDSegLib").glob("*.py")}
    assert set(scripts) == on_disk, f"listed {sorted(set(scripts) - on_disk)} / not listed {sorted(on_disk - set(scripts))}"
    for resource in _cmake_list(text, "MODULE_PYTHON_RESOURCES"):
        assert (MODULE / resource).is_file(), resource
    assert "WITH_GENERIC_TESTS" in text and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text


def test_engine_cmake_ships_the_package_with_subdir():
    text = (REPO / "SDSegLogic" / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "set(MODULE_NAME SDSegLogic)" in text and "WITH_SUBDIR" in text and "GLOB_RECURSE" in text
    for resource in ("py.typed", "server/PROTOCOL.md"):
        assert (REPO / "SDSegLogic" / resource).is_file(), resource


def test_extension_metadata_and_catalog_entry_agree():
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf"set\(EXTENSION_{key} ", text), key
    assert "project(SDSeg)" in text
    assert text.index("add_subdirectory(SDSegLogic)") < text.index("add_subdirectory(SDSegExtension)")
    entry = json.loads((REPO / "SDSeg.json").read_text(encoding="utf-8"))
    assert set(entry) <= CATALOG_KEYS and {"$schema", "category", "scm_url"} <= set(entry)
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.2.json#")
    assert entry["category"] == re.search(r'set\(EXTENSION_CATEGORY "([^"]+)"', text).group(1)
    assert entry["build_dependencies"] == re.search(r'set\(EXTENSION_DEPENDS "([^"]+)"', text).group(1).split()
    assert entry["scm_url"] in re.search(r'set\(EXTENSION_HOMEPAGE "([^"]+)"', text).group(1)
    assert isinstance(entry["tier"], int) and 1 <= entry["tier"] <= 5


@pytest.mark.parametrize("path", ["Resources/Icons/SDSeg.png", "SDSegExtension/Resources/Icons/SDSeg.png"])
def test_icons_are_128_px_rgba(path):
    from PIL import Image

    with Image.open(REPO / path) as image:
        assert image.size == (128, 128) and image.mode == "RGBA"
        assert image.getextrema()[3][1] == 255  # not fully transparent


def _python_files():
    mine = [MODULE / "SDSeg.py", *(MODULE / "SDSegLib").glob("*.py"), *(REPO / "SDSegLogic" / "server").glob("*.py")]
    return sorted(mine)


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_files_are_small_and_python39(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400, f"{path.name} has more than 400 lines; split it"
    ast.parse(text, feature_version=(3, 9))  # Slicer 5.8 ships Python 3.9
    assert "from __future__ import annotations" in text


def test_engine_package_never_imports_slicer_qt_or_vtk():
    offenders = []
    for path in sorted((REPO / "SDSegLogic").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                if name.split(".")[0] in {"slicer", "qt", "vtk", "ctk", "PythonQt", "PySide6"}:
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert not offenders, offenders
