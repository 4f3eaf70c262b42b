"""Install the engine's Python dependencies into Slicer, once, after asking.

Order (lessons from SlicerTotalSegmentator/MONAIAuto3DSeg install issues):

1. torch only through the PyTorch extension (``PyTorchUtils``: picks the CUDA or CPU build that
   matches the driver). Without that extension nothing is asked or installed: the error says to
   install it (plain ``pip install torch`` would pull PyPI's default build, on Linux a 2-3 GB CUDA
   build that need not match the driver, on a PC that may have no GPU at all);
2. the engine requirements from ``Resources/requirements.txt`` with ``>=`` pins, through Slicer's
   ``pip_ensure`` where it exists (Slicer 5.11+: ``slicer.packaging``, first ``slicer.pydeps``;
   submodules, imported here, as they are bound on ``slicer`` only once imported), given as
   ``packaging`` Requirement objects and with numpy, SimpleITK and torch protected from being
   replaced (``skip_packages``); else ``slicer.util.pip_install``.

Never at import time, never in testing mode (``slicer.app.testingEnabled()``: missing packages
raise instead of prompting), and one confirmation per session. A failed download (offline, a
proxy) raises :class:`InstallFailed` naming the packages and what to do. The requirement parsing
and version checks are plain Python and tested outside Slicer.
"""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["TORCH_REQUIREMENT", "load_requirements", "parse_requirement", "missing_requirements", "installed_versions",
           "DependencyInstaller", "InstallDeclined", "InstallFailed"]

TORCH_REQUIREMENT = "torch>=2.4"
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?\s*$")


class InstallDeclined(RuntimeError):
    """The user declined the installation, or it is not allowed (testing mode)."""


class InstallFailed(RuntimeError):
    """An installation step failed (no network, a proxy, no PyTorch extension); the message says what to do."""


NO_PYTORCH_EXTENSION = (
    "SDSeg needs {torch} (installed: {installed}), and torch is installed only through the PyTorch extension, "
    "which picks the build that matches this computer's GPU driver (or a CPU build). Install 'PyTorch' from the "
    "Extensions Manager, restart Slicer and press Segment again; nothing was installed. (Or install torch yourself "
    "from the Python console, e.g. pip_install('torch --index-url https://download.pytorch.org/whl/cpu') for a CPU "
    "build.)")
"""Why nothing is installed when torch is missing and the PyTorch extension is not there."""


def load_requirements(path: Path) -> List[str]:
    """Requirement lines of a requirements file (comments and blanks dropped)."""
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            parse_requirement(line)
            lines.append(line)
    return lines


def parse_requirement(line: str) -> Tuple[str, Optional[str]]:
    """``"diffusers>=0.30"`` -> ``("diffusers", "0.30")``; only bare names and ``>=`` pins are allowed."""
    match = _REQ.match(line)
    if not match:
        raise ValueError(f"requirement {line!r}: use 'name' or 'name>=version' (no exact pins, no URLs).")
    return match.group(1), match.group(2)


_PHASES = {"dev": -1, "a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_SUFFIX = re.compile(r"[._-]?(dev|alpha|beta|preview|pre|rc|a|b|c|post|rev|r)[._-]?(\d*)|-(\d+)")


def _version_key(version: str) -> Tuple[Any, ...]:
    """A sort key of a version string by PEP 440's order (no ``packaging`` needed).

    The release is compared with trailing zeros dropped (``"0.30"`` == ``"0.30.0"``), then
    ``X.devN < X.aN < X.bN < X.rcN < X < X.postN``; a local part (``"2.13.0+cpu"``) and a leading
    ``v`` are ignored, and so is a suffix that is not PEP 440's.

    Args:
        version: e.g. ``"2.13.0+cpu"``, ``"0.30"``, ``"1.0rc1"``, ``"1.0.post2"``.

    Returns:
        (release, phase, phase number, post number, dev number); a version without a leading number
        gives an empty release, lower than any other.
    """
    text = version.strip().lower().split("+", 1)[0]
    text = text[1:] if text.startswith("v") else text
    match = re.match(r"\d+(?:\.\d+)*", text)
    if not match:
        return ((), 3, 0, -1, float("inf"))
    release = [int(piece) for piece in match.group().split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    phase, number, post, dev = 3, 0, -1, float("inf")
    position = match.end()
    while position < len(text):
        suffix = _SUFFIX.match(text, position)
        if not suffix or suffix.end() == position:
            break
        word, digits = suffix.group(1), suffix.group(2) or suffix.group(3) or "0"
        if word in ("post", "rev", "r") or suffix.group(3):
            post = int(digits)
        elif word == "dev":
            dev = int(digits)
        else:
            phase, number = _PHASES[word], int(digits)
        position = suffix.end()
    if phase == 3 and post == -1 and dev != float("inf"):  # "1.0.dev1" precedes "1.0a1"
        phase = -1
    return (tuple(release), phase, number, post, dev)


def missing_requirements(requirements: List[str], version_of: Callable[[str], str] = metadata.version) -> List[str]:
    """The requirements not satisfied by the installed distributions (by metadata; nothing is imported)."""
    missing = []
    for line in requirements:
        name, minimum = parse_requirement(line)
        try:
            installed = version_of(name)
        except metadata.PackageNotFoundError:
            missing.append(line)
            continue
        if minimum and _version_key(installed) < _version_key(minimum):
            missing.append(line)
    return missing


def installed_versions(names: Tuple[str, ...] = ("torch", "diffusers", "safetensors", "numpy", "SimpleITK", "pynrrd")) -> Dict[str, str]:
    """name -> installed version or ``"not installed"`` (metadata only; torch is not imported)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class DependencyInstaller:
    """Check and install the engine's dependencies inside Slicer.

    Args:
        requirements_path: ``Resources/requirements.txt`` of the module.
        log: callable receiving progress lines (the module's status log).
        confirm: callable(message) -> bool asking the user; called at most once per installer.
        testing: True in Slicer's testing mode: never prompt or install, raise instead.
    """

    def __init__(self, requirements_path: Path, log: Callable[[str], None] = print,
                 confirm: Optional[Callable[[str], bool]] = None, testing: bool = False) -> None:
        self.requirements = load_requirements(requirements_path)
        self.log, self.confirm, self.testing = log, confirm, testing
        self._asked: Optional[bool] = None

    def missing(self) -> List[str]:
        return missing_requirements([TORCH_REQUIREMENT] + self.requirements)

    def ensure(self) -> None:
        """Install what is missing; raises InstallDeclined when the user says no (or in testing mode)."""
        missing = self.missing()
        if not missing:
            return
        if self.testing:
            raise InstallDeclined(f"missing Python packages {missing} and Slicer runs in testing mode (no installs); "
                                  "install them before running the tests.")
        torch_missing = any(parse_requirement(line)[0] == "torch" for line in missing)
        if torch_missing and _pytorch_utils() is None:  # before asking: nothing is installed without it
            raise InstallFailed(NO_PYTORCH_EXTENSION.format(torch=TORCH_REQUIREMENT, installed=installed_versions(("torch",))["torch"]))
        if self._asked is None:
            size = "; about 2-3 GB with a CUDA build of torch" if torch_missing else ""
            message = ("SDSeg needs these Python packages, which will be downloaded and installed into Slicer "
                       f"(a few minutes{size}):\n\n  {chr(10).join(missing)}\n\nInstall now?")
            self._asked = True if self.confirm is None else bool(self.confirm(message))
        if not self._asked:
            raise InstallDeclined("installation declined; SDSeg cannot segment without " + ", ".join(missing)
                                  + ". Press Segment again to be asked again, or install them from the Python console.")
        if torch_missing:
            self._install_torch()
        rest = [line for line in missing if parse_requirement(line)[0] != "torch"]
        if rest:
            self._pip(rest)
        still = self.missing()
        if still:
            raise InstallFailed(f"after installation these are still missing: {still}; see the log above, restart Slicer and retry.")
        self.log("All SDSeg dependencies are installed.")

    def _install_torch(self) -> None:
        minimum = TORCH_REQUIREMENT.split(">=", 1)[1]
        self.log(f"Installing torch>={minimum} with the PyTorch extension (matching your GPU driver)...")
        try:
            torch = _pytorch_utils().PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=f">={minimum}")
        except Exception as exc:  # noqa: BLE001 - pip's CalledProcessError, a network error...
            raise self._failed([TORCH_REQUIREMENT], exc) from exc
        if torch is None:
            raise InstallFailed("PyTorch installation failed; open the 'PyTorch Util' module, install torch there and restart Slicer.")

    def _pip(self, requirements: List[str]) -> None:
        import slicer

        self.log("Installing " + " ".join(requirements) + " ...")
        pip_ensure = _slicer_pip_ensure()
        try:
            if pip_ensure is not None:
                from packaging.requirements import Requirement  # shipped with Slicer (its pip_ensure uses it)

                pip_ensure([Requirement(line) for line in requirements], prompt_install=False, requester="SDSeg",
                           skip_packages=["SimpleITK", "numpy", "torch"])
            else:
                slicer.util.pip_install(" ".join(requirements))
        except Exception as exc:  # noqa: BLE001 - pip's CalledProcessError, a network error...
            raise self._failed(requirements, exc) from exc

    def _failed(self, requirements: List[str], exc: BaseException) -> InstallFailed:
        """The error (also logged) for a download or install that failed: what, why, and what to do."""
        message = (f"installing {' '.join(requirements)} failed ({type(exc).__name__}: {exc}). pip's output is in the "
                   "Python console (View > Python Console). Check that this computer can reach pypi.org (a proxy or "
                   "firewall may block it: set HTTPS_PROXY before starting Slicer), then press Segment again. Offline: "
                   "download the wheels elsewhere and install them from the Python console with "
                   "pip_install('--no-index --find-links <wheel folder> " + " ".join(requirements) + "').")
        self.log(message)
        return InstallFailed(message)


def _slicer_pip_ensure() -> Optional[Callable[..., Any]]:
    """Slicer's ``pip_ensure`` (``slicer.packaging``, or ``slicer.pydeps`` of the first 5.11 builds), or None before 5.11.

    Both are submodules of ``slicer``: an attribute of it only after something imported them.
    """
    for name in ("slicer.packaging", "slicer.pydeps"):
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - absent (ImportError) or broken: the plain pip_install still works
            continue
        pip_ensure = getattr(module, "pip_ensure", None)
        if callable(pip_ensure):
            return pip_ensure
    return None


def _pytorch_utils() -> Any:
    """The PyTorch extension's module, or None when that extension is not installed."""
    try:
        import PyTorchUtils  # the PyTorch extension
    except ImportError:
        return None
    return PyTorchUtils
