"""Which installed version is the newest: semantic-versioning precedence, letter case not counting.

``version_key`` compared pre-release parts as text, so ``1.0.0-beta.10`` sorted before
``1.0.0-beta.2`` and ``sdseg --model ID`` chose the older pre-release. It also compared the raw
text last, so a cached ``1.0.0-RC1`` lost to the bundled ``1.0.0-rc1`` (one version, whose tie the
cache is documented to win).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_test_helpers import copy_model, entry, make_model_folder, write_registry

from SDSegLogic.registry import Registry, installed_versions, resolve_model


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("s19order") / "tiny")


def test_numeric_pre_release_parts_compare_as_numbers(tiny_folder, tmp_path):
    home = tmp_path / "models"
    for version in ("1.0.0-beta.10", "1.0.0-beta.2", "1.0.0-alpha", "1.0.0-alpha.1", "0.9.0"):
        copy_model(tiny_folder, home / "tiny-test" / version)
    assert installed_versions("tiny-test", home) == ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2",
                                                     "1.0.0-beta.10"]
    assert resolve_model("tiny-test", Registry(), home).version == "1.0.0-beta.10"


def test_the_cache_wins_a_tie_with_the_bundled_copy_spelt_in_another_case(tiny_folder, tmp_path):
    registry = Registry.load(write_registry(tmp_path / "Resources" / "models.json", [entry(version="1.0.0-rc1")]))
    copy_model(tiny_folder, tmp_path / "Models" / "tiny-test")
    home = tmp_path / "models"
    copy_model(tiny_folder, home / "tiny-test" / "1.0.0-RC1")
    resolved = resolve_model("tiny-test", registry, home)
    assert resolved.source == "cache" and resolved.folder == home / "tiny-test" / "1.0.0-RC1"
