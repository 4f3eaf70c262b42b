"""Install the engine's Python dependencies into Slicer, once, after asking.

Order (lessons from SlicerTotalSegmentator/MONAIAuto3DSeg install issues):

1. torch through the PyTorch extension (``PyTorchUtils``: picks the CUDA build matching the
   driver) when that extension is installed, else ``pip install torch>=...`` (CPU/CUDA wheel from
   PyPI);
2. the engine requirements from ``Resources/requirements.txt`` with ``>=`` pins, through
   ``slicer.packaging.pip_ensure`` on Slicer >= 5.12, else ``slicer.util.pip_install``.

Never at import time, never in testing mode (``slicer.app.testingEnabled()``: missing packages
raise instead of prompting), and one confirmation per session. The requirement parsing and
version checks are plain Python and tested outside Slicer.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

__all__ = ["TORCH_REQUIREMENT", "load_requirements", "parse_requirement", "missing_requirements", "installed_versions",
           "DependencyInstaller", "InstallDeclined"]

TORCH_REQUIREMENT = "torch>=2.4"
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?\s*$")


class InstallDeclined(RuntimeError):
    """The user declined the installation, or it is not allowed (testing mode)."""


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


def _version_tuple(version: str) -> Tuple[int, ...]:
    parts = []
    for piece in re.split(r"[.+-]", version):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


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
        if minimum and _version_tuple(installed) < _version_tuple(minimum):
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
        if self._asked is None:
            message = ("SDSeg needs these Python packages, which will be downloaded and installed into Slicer "
                       f"(a few minutes; about 2-3 GB with a CUDA build of torch):\n\n  {chr(10).join(missing)}\n\nInstall now?")
            self._asked = True if self.confirm is None else bool(self.confirm(message))
        if not self._asked:
            raise InstallDeclined("installation declined; SDSeg cannot segment without " + ", ".join(missing)
                                  + ". Press Segment again to be asked again, or install them from the Python console.")
        if any(line.startswith("torch") for line in missing):
            self._install_torch()
        rest = [line for line in missing if not line.startswith("torch")]
        if rest:
            self._pip(rest)
        still = self.missing()
        if still:
            raise RuntimeError(f"after installation these are still missing: {still}; see the log above, restart Slicer and retry.")
        self.log("All SDSeg dependencies are installed.")

    def _install_torch(self) -> None:
        minimum = TORCH_REQUIREMENT.split(">=", 1)[1]
        try:
            import PyTorchUtils  # the PyTorch extension
        except ImportError:
            PyTorchUtils = None
        if PyTorchUtils is not None:
            self.log(f"Installing torch>={minimum} with the PyTorch extension (matching your GPU driver)...")
            torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=f">={minimum}")
            if torch is None:
                raise RuntimeError("PyTorch installation failed; open the 'PyTorch Util' module, install torch there and restart Slicer.")
        else:
            self.log("The PyTorch extension is not installed; installing torch from PyPI (install the PyTorch extension for a GPU build).")
            self._pip([TORCH_REQUIREMENT])

    def _pip(self, requirements: List[str]) -> None:
        import slicer

        self.log("Installing " + " ".join(requirements) + " ...")
        packaging = getattr(slicer, "packaging", None)
        if packaging is not None and hasattr(packaging, "pip_ensure"):
            packaging.pip_ensure(requirements, prompt_install=False, requester="SDSeg", skip_packages=["SimpleITK", "numpy", "torch"])
        else:
            slicer.util.pip_install(" ".join(requirements))
