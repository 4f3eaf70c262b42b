"""Which members of a model zip may be extracted, and the model card they carry, read before anything is written.

:func:`plan_archive` checks every member of an untrusted model zip (paths, kinds, sizes,
duplicates, overlapping data) and finds the model folder inside it; :func:`read_planned_card`
reads its ``model_card.json`` from the archive, so that the import knows the model's id,
version and unpacked size before it takes the model's lock or writes a byte
(:mod:`SDSegLogic.model_zip`).

Standard library only.
"""

from __future__ import annotations

import json
import stat
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, AbstractSet, Dict, List, Optional, Tuple

from .errors import CheckpointError, ModelCardError

if TYPE_CHECKING:  # pragma: no cover
    from .model_card import ModelCard

__all__ = ["UnsafeArchiveError", "ArchivePlan", "plan_archive", "read_planned_card", "MAX_ARCHIVE_BYTES",
           "MAX_ARCHIVE_MEMBERS", "MAX_CARD_BYTES", "MAX_CONFIG_BYTES"]

#: Refuse archives that would unpack to more than this (the paper model is about 1.7 GB in fp32).
MAX_ARCHIVE_BYTES = 16 * 2**30
MAX_ARCHIVE_MEMBERS = 1000
#: A model card is a few kilobytes; a larger ``model_card.json`` is not read into memory.
MAX_CARD_BYTES = 1 << 20
#: ``config.json`` is read whole by every load and verification; it is about one kilobyte.
MAX_CONFIG_BYTES = 1 << 20
_IGNORED_MEMBERS = ("__MACOSX/", ".DS_Store")
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
_WINDOWS_DEVICES = frozenset(["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
                             + [f"{port}{n}" for port in ("COM", "LPT") for n in "123456789¹²³"])
_READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


class UnsafeArchiveError(CheckpointError):
    """A model zip holds absolute paths, ``..``, links, encrypted or oversized members."""


@dataclass(frozen=True)
class ArchivePlan:
    """What an import will extract.

    Attributes:
        files: (member, path inside the model folder) of every file to extract, in archive order.
        prefix: the single top-level folder holding the model (``"name/"``), or ``""``.
        unpacked_bytes: sum of the files' uncompressed sizes, as their headers state (extraction
            refuses a member that unpacks to more than its header says).
    """

    files: Tuple[Tuple[zipfile.ZipInfo, str], ...]
    prefix: str
    unpacked_bytes: int


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name with ``/`` as its only separator.

    Older Windows tools (PowerShell 5's ``Compress-Archive``) write ``model\\config.json``; the zip
    format wants ``/``, and Python's ``zipfile`` on Windows already reads ``\\`` as one. Reading it
    as a separator everywhere installs such a zip on every system alike, with the same checks
    (``..\\..\\evil``, ``\\evil`` and ``C:\\evil`` are refused as ``../../evil``, ``/evil`` and ``C:/evil``).
    """
    return info.filename.replace("\\", "/")


def _is_folder(info: zipfile.ZipInfo) -> bool:
    """Whether the member is a folder entry (its name ends with ``/`` or, from older Windows tools, ``\\``)."""
    return _member_name(info).endswith("/")


def _member_path(info: zipfile.ZipInfo, archive: Path) -> Optional[str]:
    """The member's safe relative path, ``/``-separated (``None`` for an ignored member); raises on anything unsafe."""
    name = _member_name(info)
    if name.startswith(_IGNORED_MEMBERS) or name.rsplit("/", 1)[-1] == ".DS_Store":
        return None
    parts = name.rstrip("/").split("/")
    why = _path_problem(name, parts)
    if why:
        raise UnsafeArchiveError(f"{archive}: member {info.filename!r} {why}; refusing to extract it (a model zip "
                                 "holds the model folder's files by their paths inside it).")
    for part in parts:
        why = _windows_problem(part)
        if why:
            raise UnsafeArchiveError(f"{archive}: member {name!r} cannot be extracted on Windows ({part!r} {why}); a "
                                     "model zip must install everywhere: rename it in the model folder and zip it again.")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        what = "a symbolic link" if kind == stat.S_IFLNK else "not a regular file"
        raise UnsafeArchiveError(f"{archive}: member {name!r} is {what}; model archives may hold regular files only.")
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(f"{archive}: member {name!r} is encrypted; model archives must not be.")
    if not _is_folder(info) and info.compress_type not in _READABLE_METHODS:
        raise CheckpointError(
            f"{archive}: member {name!r} uses compression method {info.compress_type}, which cannot be read here "
            "(Windows Explorer writes Deflate64 for large files); re-create the zip with standard Deflate, e.g. "
            "'python -m zipfile -c MODEL.zip FOLDER'."
        )
    return "/".join(parts)


def _path_problem(name: str, parts: List[str]) -> Optional[str]:
    """Why the ``/``-separated member ``name`` (split into ``parts``) would be written outside the target, or None."""
    if not name or name.startswith("/"):
        return "has an absolute path"
    if ":" in parts[0]:
        return "has a drive letter (an absolute Windows path)"
    if ".." in parts:
        return "has a '..' component, which would write outside the model folder"
    if any(p in ("", ".") for p in parts):
        return "has an empty or '.' component in its path (a malformed name)"
    return None


def _windows_problem(part: str) -> Optional[str]:
    """Why Windows cannot hold a file or folder named ``part`` (one path component), or None.

    Windows drops a trailing dot or blank (two members could become one file), reads ``a:b`` as the
    stream ``b`` of file ``a``, forbids ``<>:"|?*`` and control characters, and keeps the device
    names CON, PRN, AUX, NUL, COM1-9 and LPT1-9 (also with an extension: ``nul.json``).
    """
    if part.endswith((".", " ")):
        return "ends with a dot or a blank, which Windows drops"
    bad = sorted({c for c in part if c in _WINDOWS_FORBIDDEN or ord(c) < 32})
    if bad:
        return f"contains {', '.join(repr(c) for c in bad)}, which Windows forbids in file names"
    if part.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        return "is a Windows device name"
    return None


def _check_names(names: List[str], archive: Path) -> None:
    """Refuse member paths that would overwrite each other when extracted.

    Two members with the same path (or paths that differ only in case or Unicode normalisation,
    which are one file on Windows and macOS) leave whichever comes last, and a file that is also
    the folder of another member cannot be extracted at all: what gets installed would depend on
    the extractor.
    """
    seen: Dict[str, str] = {}
    for rel in names:
        key = unicodedata.normalize("NFC", rel).casefold()
        if key in seen:
            same = "twice" if seen[key] == rel else (
                f"twice (as {seen[key]!r}; names differing only in case or accents' encoding are one file on Windows "
                "and macOS)")
            raise UnsafeArchiveError(f"{archive}: member {rel!r} appears {same}; refusing an ambiguous archive.")
        seen[key] = rel
    for rel in names:
        parts = unicodedata.normalize("NFC", rel).casefold().split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in seen:
                raise UnsafeArchiveError(
                    f"{archive}: {seen[folder]!r} is a file but also the folder of member {rel!r}; refusing the archive."
                )


def _check_no_overlap(zf: zipfile.ZipFile, infos: List[zipfile.ZipInfo], archive: Path) -> None:
    """Refuse members whose compressed data runs into the next member's local header.

    In a well-formed zip each member's header and data come one after the other. A "quoted
    overlap" zip bomb makes each member's data contain the next member's header and data, so a
    few kilobytes unpack to many copies of one highly compressed stream; ``zipfile`` checks this
    only from Python 3.12.1 on.
    """
    offsets = sorted(info.header_offset for info in infos)
    if len(set(offsets)) != len(offsets):
        raise UnsafeArchiveError(f"{archive}: two members share one local header (overlapping entries); refusing it.")
    ends = dict(zip(offsets, offsets[1:] + [getattr(zf, "start_dir", archive.stat().st_size)]))
    with open(archive, "rb") as raw:
        for info in infos:
            raw.seek(info.header_offset)
            header = raw.read(30)
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise CheckpointError(f"{archive}: member {info.filename!r} has no local header; the zip is corrupt, "
                                      "download it again.")
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            data_end = info.header_offset + 30 + name_length + extra_length + info.compress_size
            if data_end > ends[info.header_offset]:
                raise UnsafeArchiveError(f"{archive}: the data of member {info.filename!r} overlaps the next member "
                                         "(a zip bomb trick); refusing it.")


def plan_archive(zf: zipfile.ZipFile, archive: Path) -> ArchivePlan:
    """Check every member of the open model zip ``zf`` and say what to extract (nothing is written).

    Raises:
        UnsafeArchiveError, CheckpointError: naming the archive and the offending member.
    """
    infos = zf.infolist()
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise UnsafeArchiveError(f"{archive}: {len(infos)} members (limit {MAX_ARCHIVE_MEMBERS}); not a model archive.")
    files = [(info, rel) for info in infos for rel in [_member_path(info, archive)] if rel and not _is_folder(info)]
    unpacked = sum(info.file_size for info, _ in files)
    if unpacked > MAX_ARCHIVE_BYTES:
        raise UnsafeArchiveError(f"{archive}: unpacks to more than {MAX_ARCHIVE_BYTES / 2**30:.0f} GiB; refusing it.")
    _check_no_overlap(zf, infos, archive)
    _check_names([rel for _, rel in files], archive)
    names = {rel for _, rel in files}
    if "model_card.json" in names:
        prefix = ""
    else:
        tops = {rel.split("/", 1)[0] for rel in names}
        prefix = tops.pop() + "/" if len(tops) == 1 else None
        if prefix is None or prefix + "model_card.json" not in names:
            _refuse_several_models(names, archive)
            raise CheckpointError(
                f"{archive}: no model_card.json at the top of the archive or of its single top-level folder; "
                "this is not an SDSeg model zip."
            )
    _refuse_several_models(names - {prefix + "model_card.json"}, archive, inside=prefix)
    for info, rel in files:
        if not rel.startswith(prefix):
            raise UnsafeArchiveError(f"{archive}: member {rel!r} lies outside the model folder {prefix!r}.")
        if rel == prefix + "config.json" and info.file_size > MAX_CONFIG_BYTES:  # a few MB of zip, GBs in memory
            raise UnsafeArchiveError(f"{archive}: {rel} unpacks to {info.file_size} bytes (a model's config.json is at "
                                     f"most {MAX_CONFIG_BYTES}); refusing the archive.")
    return ArchivePlan(tuple((info, rel[len(prefix):]) for info, rel in files), prefix, unpacked)


def _refuse_several_models(names: AbstractSet[str], archive: Path, inside: Optional[str] = None) -> None:
    """Refuse an archive holding more than one model: several top-level model folders, or (``inside``: the
    model's folder prefix) a second model card in a sub-folder of the model, which would be installed inside it.

    Raises:
        UnsafeArchiveError: naming the model cards found and the remedy (one zip per model).
    """
    cards = sorted(rel for rel in names if rel.rsplit("/", 1)[-1].casefold() == "model_card.json")
    if inside is not None and cards:
        raise UnsafeArchiveError(
            f"{archive}: besides the model card {inside}model_card.json it holds {', '.join(map(repr, cards[:4]))}, "
            "another model inside the model's folder; a model zip holds one model: zip each model folder on its own."
        )
    if inside is None and len(cards) > 1:
        raise UnsafeArchiveError(
            f"{archive}: holds {len(cards)} models ({', '.join(map(repr, cards[:4]))}) but a model zip holds one: "
            "zip each model folder on its own and import each zip."
        )


def read_planned_card(zf: zipfile.ZipFile, plan: ArchivePlan, archive: Path) -> "ModelCard":
    """The model card inside the archive, read from the zip (at most :data:`MAX_CARD_BYTES`).

    Raises:
        ModelCardError: the card is too large, not UTF-8 JSON, or not a valid model card.
        CheckpointError: its compressed data is corrupt.
    """
    from .model_card import ModelCard

    info = next(info for info, rel in plan.files if rel == "model_card.json")
    where = f"{archive}: {plan.prefix}model_card.json"
    if info.file_size > MAX_CARD_BYTES:
        raise ModelCardError(f"{where}: {info.file_size} bytes (a model card is at most {MAX_CARD_BYTES}); "
                             "this is not an SDSeg model zip.")
    try:
        with zf.open(info) as source:
            raw = source.read(MAX_CARD_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise CheckpointError(f"{where}: corrupt member ({exc}); download the zip again.") from None
    if len(raw) > MAX_CARD_BYTES:
        raise UnsafeArchiveError(f"{where}: unpacks to more than its header says; refusing the archive.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelCardError(f"{where}: not valid JSON ({exc}); the archive holds a broken model card.") from None
    return ModelCard.from_dict(data, source=where)
