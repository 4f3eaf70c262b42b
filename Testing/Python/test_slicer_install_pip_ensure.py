"""First Segment on Slicer 5.11+ (Python 3.12): the engine requirements go through Slicer's ``pip_ensure``.

Slicer 5.11 added ``pip_ensure`` (first as ``slicer.pydeps``, then renamed ``slicer.packaging``):
it installs with ``skip_packages`` so that a requirement's dependencies never replace the numpy,
SimpleITK and torch that Slicer and the PyTorch extension provide. Both are *submodules*: a
submodule is bound on ``slicer`` only once something imports it (Python's import system; Slicer's
docs and extensions write ``import slicer.packaging`` before calling it). Before, the installer
looked for ``slicer.packaging`` as an attribute without importing it, so on a fresh Slicer it never
found ``pip_ensure`` and fell back to a plain ``slicer.util.pip_install``, without the protected
packages. The first ``pip_ensure`` (``slicer.pydeps``) also takes only
``packaging.requirements.Requirement`` objects (it reads ``req.marker``), not strings.

3D Slicer is replaced by a minimal ``slicer`` package: ``slicer.util.pip_install`` and the
submodule's ``pip_ensure`` record their calls; the submodule is importable (``sys.modules``) but not
an attribute of ``slicer``, as in a Slicer where nothing imported it yet.
"""

from __future__ import annotations

import sys
import types

import pytest

from slicer_logic_helpers import REPO  # noqa: F401 - puts SDSegLib on sys.path
from SDSegLib.install import DependencyInstaller

PROTECTED = {"numpy", "SimpleITK", "torch"}


def _slicer(monkeypatch, submodule: str) -> dict:
    """A ``slicer`` package whose ``submodule`` has ``pip_ensure``; returns the recorded calls."""
    calls = {"pip_install": [], "pip_ensure": []}
    fake = types.ModuleType("slicer")
    fake.__path__ = []  # a package, as Slicer's
    fake.util = types.SimpleNamespace(pip_install=lambda requirements, *a, **k: calls["pip_install"].append(requirements))
    packaging_module = types.ModuleType(submodule)

    def pip_ensure(requirements, constraints=None, skip_packages=None, prompt_install=True, prompt_restart=True,
                   requester=None, skip_in_testing=True, show_progress=True):
        names = [req.name for req in requirements]  # as slicer.pydeps.pip_check: Requirement objects (.name, .marker)
        assert all(req.marker is None or req.marker.evaluate() for req in requirements)
        calls["pip_ensure"].append({"names": names, "specs": [str(req) for req in requirements], "skip": skip_packages,
                                    "prompt_install": prompt_install, "requester": requester})

    packaging_module.pip_ensure = pip_ensure
    monkeypatch.setitem(sys.modules, "slicer", fake)
    monkeypatch.setitem(sys.modules, submodule, packaging_module)  # importable, not yet bound on ``slicer``
    return calls


@pytest.mark.parametrize("submodule", ["slicer.packaging", "slicer.pydeps"])
def test_the_requirements_go_through_pip_ensure_with_slicer_s_packages_protected(tmp_path, monkeypatch, submodule):
    calls = _slicer(monkeypatch, submodule)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# engine requirements\nsurely-not-installed-package-xyz>=1.0\nsafetensors\n")
    asked = []
    installer = DependencyInstaller(requirements, log=lambda text: None, confirm=lambda message: asked.append(message) or True)
    with pytest.raises(RuntimeError, match="still missing"):  # the recording pip_ensure installs nothing
        installer.ensure()
    assert len(asked) == 1 and calls["pip_install"] == [], "fell back to a plain pip install: pip_ensure was not found"
    (call,) = calls["pip_ensure"]
    assert call["names"] == ["surely-not-installed-package-xyz"] and call["specs"] == ["surely-not-installed-package-xyz>=1.0"]
    assert PROTECTED <= set(call["skip"]) and call["prompt_install"] is False and call["requester"] == "SDSeg"


def test_without_pip_ensure_the_plain_pip_install_is_used(tmp_path, monkeypatch):
    """Slicer 5.8 / 5.10: no ``pip_ensure`` anywhere; ``slicer.util.pip_install`` gets the requirement line."""
    calls = _slicer(monkeypatch, "slicer.something_else")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("surely-not-installed-package-xyz>=1.0\n")
    installer = DependencyInstaller(requirements, log=lambda text: None, confirm=lambda message: True)
    with pytest.raises(RuntimeError, match="still missing"):
        installer.ensure()
    assert calls["pip_install"] == ["surely-not-installed-package-xyz>=1.0"] and calls["pip_ensure"] == []


def test_the_extension_s_requirements_are_pip_ensure_requirements_on_python_3_12():
    """Every line parses as a PEP 508 requirement (what pip_ensure takes) whose markers hold on Slicer 5.11's Python 3.12."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    from SDSegLib.install import load_requirements

    environment = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.10"}
    lines = load_requirements(REPO / "SDSegExtension" / "Resources" / "requirements.txt")
    assert lines and all(Requirement(line).marker is None or Requirement(line).marker.evaluate(environment) for line in lines)
    assert not {Requirement(line).name for line in lines} & PROTECTED  # installed by Slicer / the PyTorch extension
