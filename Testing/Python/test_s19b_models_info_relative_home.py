"""``sdseg models info ID`` refuses a relative ``$SDSEG_HOME`` as ``list`` and ``verify`` do.

With ``SDSEG_HOME=relhome`` (a relative path, which names another cache in every working
directory), ``sdseg models list`` and ``sdseg models verify ID`` exit 4 naming the problem, but
``sdseg models info ID`` printed "not installed: $SDSEG_HOME is the relative path ..." and exited 0,
even for a bundled model whose folder is right there: a script took the model for absent and the
setting for fine. ``info`` now exits 4 with the same message, with and without ``--json``.
"""

from __future__ import annotations

import json
import shutil

from cli_segment_fixtures import run, tiny_folder  # noqa: F401 (fixture)
from cli_test_helpers import entry, write_registry

from SDSegLogic.cli import EXIT_MODEL, EXIT_OK


def _registry(tmp_path, tiny_folder, monkeypatch):
    shutil.copytree(tiny_folder, tmp_path / "repo" / "Models" / "tiny-test")
    registry = write_registry(tmp_path / "repo" / "Resources" / "models.json", [entry(version="0.0.1")])
    monkeypatch.setenv("SDSEG_REGISTRY", str(registry))


def test_info_with_a_relative_home_is_a_model_error_like_verify(tiny_folder, tmp_path, monkeypatch, capsys):
    _registry(tmp_path, tiny_folder, monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SDSEG_HOME", "relhome")
    verify_code, _, verify_err = run(["models", "verify", "tiny-test"], capsys)
    assert verify_code == EXIT_MODEL and "relative path" in verify_err
    for extra in ([], ["--json"]):
        code, out, err = run(["models", "info", "tiny-test", *extra], capsys)
        assert code == EXIT_MODEL, (extra, out, err)
        assert "relative path 'relhome'" in out + err and "not installed" not in out + err


def test_info_of_the_bundled_model_with_an_absolute_home_is_ok(tiny_folder, tmp_path, monkeypatch, capsys):
    _registry(tmp_path, tiny_folder, monkeypatch)
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))
    code, out, _ = run(["models", "info", "tiny-test", "--json"], capsys)
    assert code == EXIT_OK
    data = json.loads(out)
    assert data["installed"]["source"] == "bundled" and data["model_card"]["model_id"] == "tiny-test"


def test_info_of_a_downloadable_model_not_installed_stays_ok(tmp_path, monkeypatch, capsys):
    fields = {"url": "https://example.org/m.zip", "sha256": "a" * 64}
    registry = write_registry(tmp_path / "repo" / "Resources" / "models.json", [entry(version="0.0.1", **fields)])
    monkeypatch.setenv("SDSEG_REGISTRY", str(registry))
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))
    code, out, _ = run(["models", "info", "tiny-test"], capsys)
    assert code == EXIT_OK and "not installed" in out and "https://example.org/m.zip" in out
