"""Which model ids and versions can name folders of the model cache, and how versions compare.

Ids and versions name folders of the cache (``<home>/<id>/<version>``), on every system: no name
Windows reserves for a device (con, nul, com1... also with an extension), no trailing dot (Windows
drops it: "a." would be "a"), no line break (``\\Z``, not ``$``, which also matches before a final
"\\n"). Ids are lower case; versions that differ only in letter case are one version
(:func:`same_version`), since their folders are one folder on Windows and macOS.

Standard library only.
"""

from __future__ import annotations

import re
from typing import Tuple

__all__ = ["is_folder_safe_id", "is_folder_safe_version", "model_id_problem", "same_version", "version_key",
           "version_problem"]

_ID_RE = re.compile(r"^(?!(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?:\.|$))[a-z0-9][a-z0-9._-]{0,63}(?<!\.)\Z")
_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?(?<!\.)\Z")


def is_folder_safe_id(model_id: object) -> bool:
    """Whether ``model_id`` can name a cache folder: lower case ``a-z 0-9 . _ -``, at most 64 characters."""
    return isinstance(model_id, str) and _ID_RE.match(model_id) is not None


def model_id_problem(model_id: object, fix: str = "fix model_id in the model card") -> str:
    """Why ``model_id`` cannot name a cache folder (a sentence ending in the remedy ``fix``), or ``""`` when it can.

    The one rule of the zip import (:func:`SDSegLogic.registry.cache_folder`), ``sdseg models verify``
    and ``models.json`` (``fix="fix id in models.json"``).
    """
    if is_folder_safe_id(model_id):
        return ""
    suggestion = model_id.lower() if isinstance(model_id, str) and is_folder_safe_id(model_id.lower()) else None
    return (f"model id {model_id!r} is not folder-safe (it names a cache folder): an id is 1 to 64 lower-case letters, "
            "digits, '.', '_' or '-' (starting with a letter or digit, no control character, no device name such as "
            f"'con'); {fix}" + (f", e.g. {suggestion!r}." if suggestion else "."))


def is_folder_safe_version(version: object) -> bool:
    """Whether ``version`` is a semantic version (``1.2.3``, ``1.2.3-rc1``) that can name a cache folder."""
    return isinstance(version, str) and _VERSION_RE.match(version) is not None


def version_problem(version: object, fix: str = "fix version in the model card") -> str:
    """Why ``version`` cannot name a cache folder (a sentence ending in the remedy ``fix``), or ``""`` when it can.

    The one rule of the model card, the cache (:func:`SDSegLogic.registry.cache_folder`) and ``models.json``.
    """
    if is_folder_safe_version(version):
        return ""
    if not isinstance(version, str):
        return f"version {version!r} must be a string such as \"1.0.0\"; {fix}."
    return (f"version {version!r} is not a folder-safe semantic version (it names a cache folder): major.minor.patch "
            "such as 1.2.3 or 1.2.3-rc1 (letters, digits, '.' and '-' after the '-' or '+'; no control character, "
            f"no final '.'); {fix}, e.g. \"1.0.0\".")


def same_version(first: str, second: str) -> bool:
    """Whether two versions are one for SDSeg: equal but for letter case (``1.0.0-RC1``, ``1.0.0-rc1``).

    A version names a cache folder, and folder names that differ only in case are one folder on
    Windows and macOS: treating such versions as one makes the registry, the cache and imports
    behave the same on every system.
    """
    return first.lower() == second.lower()


def version_key(version: str) -> Tuple:
    """Sort key of a version, in semantic-versioning precedence (semver.org, item 11).

    Numeric major, minor, patch; a pre-release (``1.0.0-rc1``) before its release; pre-release
    identifiers compared one by one, numeric ones as numbers (``beta.2`` before ``beta.10``) and
    before alphanumeric ones, a longer list after its own prefix (``alpha`` before ``alpha.1``).
    Letter case does not count (:func:`same_version`): ``1.0.0-RC1`` and ``1.0.0-rc1`` tie, so a
    caller's own tie-break decides between them. Build metadata (``+...``) only orders versions
    that are otherwise equal, so that the order does not depend on the input order.
    """
    match = _VERSION_RE.match(version)
    if not match:
        return (-1, -1, -1, 0, (), version.lower())
    text = version.lower()
    core, _, _build = text.partition("+")
    release, dash, pre = core.partition("-")
    major, minor, patch = (int(x) for x in release.split("."))
    if not dash:
        return (major, minor, patch, 1, (), text)
    identifiers = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split("."))
    return (major, minor, patch, 0, identifiers, text)
