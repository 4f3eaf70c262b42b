"""First Segment on a hospital PC: the dependency install (SDSegLib.install) when things go wrong.

* torch missing (or too old) and no PyTorch extension: nothing is asked or installed (plain
  ``pip install torch`` would pull PyPI's default build, a 2-3 GB CUDA build on Linux); the error
  says to install the PyTorch extension;
* pip failing (offline, a proxy): the error names the packages, says where pip's output is and
  what to do, instead of a bare ``CalledProcessError``.

3D Slicer is replaced by a minimal ``slicer`` module whose ``util.pip_install`` mirrors
``slicer.util.pip_install(requirements)`` (blocking: raises ``subprocess.CalledProcessError`` when
pip fails); ``PyTorchUtils`` (the PyTorch extension) is made unimportable or replaced the same way.
"""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from slicer_logic_helpers import REPO  # noqa: F401 - puts SDSegLib on sys.path
from SDSegLib import install
from SDSegLib.install import DependencyInstaller


def _slicer(monkeypatch, offline: bool = False) -> list:
    """A ``slicer`` module with ``util.pip_install``; returns the list of what pip was asked to install."""
    calls = []

    def pip_install(requirements, *args, **kwargs):  # slicer.util.pip_install, blocking
        calls.append(requirements)
        if offline:
            raise subprocess.CalledProcessError(1, ["PythonSlicer", "-m", "pip", "install", *str(requirements).split()])

    fake = types.ModuleType("slicer")
    fake.util = types.SimpleNamespace(pip_install=pip_install)
    monkeypatch.setitem(sys.modules, "slicer", fake)
    return calls


def _installer(tmp_path, asked, logs, requirement="surely-not-installed-package-xyz>=1.0"):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(requirement + "\n")
    return DependencyInstaller(requirements, log=logs.append, confirm=lambda message: asked.append(message) or True)


def test_torch_is_never_pulled_from_pypi_without_the_pytorch_extension(tmp_path, monkeypatch):
    pip = _slicer(monkeypatch)
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # the PyTorch extension is not installed
    monkeypatch.setattr(install, "TORCH_REQUIREMENT", "torch>=999")  # the installed torch is too old
    asked, logs = [], []
    with pytest.raises(RuntimeError) as info:
        _installer(tmp_path, asked, logs).ensure()
    assert not any("torch" in str(call) for call in pip), f"torch was pip-installed from PyPI: {pip}"
    assert pip == [] and asked == []  # nothing asked, nothing half-installed
    message = str(info.value)
    assert "PyTorch" in message and "Extensions Manager" in message and "restart Slicer" in message
    assert "torch>=999" in message and "installed: " in message


def test_an_offline_pip_install_says_what_failed_and_what_to_do(tmp_path, monkeypatch):
    pip = _slicer(monkeypatch, offline=True)
    asked, logs = [], []
    with pytest.raises(RuntimeError) as info:
        _installer(tmp_path, asked, logs).ensure()
    assert len(asked) == 1 and pip == ["surely-not-installed-package-xyz>=1.0"]
    message = str(info.value)
    assert "surely-not-installed-package-xyz>=1.0" in message and "Python console" in message
    assert "pypi.org" in message and "proxy" in message and "Segment again" in message and "--find-links" in message
    assert any("failed" in line and "surely-not-installed-package-xyz" in line for line in logs)  # also in the status log


def test_a_failed_torch_install_through_the_pytorch_extension_says_what_to_do(tmp_path, monkeypatch):
    _slicer(monkeypatch)

    class PyTorchUtilsLogic:  # PyTorchUtils.PyTorchUtilsLogic of the PyTorch extension, offline
        def installTorch(self, askConfirmation=False, forceComputationBackend=None, torchVersionRequirement=None,
                         torchvisionVersionRequirement=None):
            raise subprocess.CalledProcessError(1, ["PythonSlicer", "-m", "pip", "install", "light-the-torch"])

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=PyTorchUtilsLogic))
    monkeypatch.setattr(install, "TORCH_REQUIREMENT", "torch>=999")
    asked, logs = [], []
    with pytest.raises(RuntimeError) as info:
        _installer(tmp_path, asked, logs, requirement="safetensors").ensure()
    assert len(asked) == 1 and "2-3 GB" in asked[0]
    assert "torch>=999" in str(info.value) and "pypi.org" in str(info.value)
