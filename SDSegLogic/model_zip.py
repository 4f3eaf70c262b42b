"""Install a model zip that the user downloaded into the model cache, safely and atomically.

SDSeg never downloads anything. For a downloadable registry entry the user fetches the zip
(the URL and sha256 are printed by ``sdseg models info``) and runs ``sdseg models import ZIP``,
which calls :func:`import_zip`. The archive is treated as untrusted:

* every member path is checked before anything is written: no absolute paths, drive letters,
  backslashes, ``..`` components, symbolic links, device files, encrypted members, members
  compressed with a method Python cannot read (Deflate64), duplicate names (also names that differ
  only in case or Unicode normalisation) or a file that is also used as a folder; at most
  :data:`MAX_ARCHIVE_MEMBERS` members and :data:`MAX_ARCHIVE_BYTES` unpacked (and a member
  may not unpack to more than its header says);
* the model card's ``model_id`` and ``version`` must be folder-safe, and every weight file it
  lists must lie inside the folder and match its sha256;
* the zip's own sha256 is checked against the caller's value and the registry entry, if known;
* no member's data may run into another member's (the "overlapping files" zip bomb, which makes
  a small archive unpack to many times the largest size one compressed stream can reach);
* extraction goes to a staging folder inside the cache, moved into place with one ``os.replace``;
  on any failure the staging folder is removed and the cache is unchanged;
* one import at a time holds the cache's lock (:mod:`SDSegLogic.model_cache_lock`): concurrent
  imports run one after the other, and the staging folders of killed imports are removed.

Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
import tempfile
import time
import unicodedata
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .errors import CheckpointError, InputError
from .io.atomic import current_umask
from .model_cache_lock import STAGING_PREFIX, cache_import_lock, remove_import_debris
from .model_folder import move_folder_into_place, sha256_file
from .registry import PathLike, Registry, ResolvedModel, cache_folder, models_home

__all__ = ["UnsafeArchiveError", "import_zip", "INSTALL_RECORD", "MAX_ARCHIVE_BYTES", "MAX_ARCHIVE_MEMBERS"]

#: Written into each imported folder: the zip's name, its sha256 and the time of import.
INSTALL_RECORD = ".sdseg-install.json"
#: Refuse archives that would unpack to more than this (the paper model is about 1.7 GB in fp32).
MAX_ARCHIVE_BYTES = 16 * 2**30
MAX_ARCHIVE_MEMBERS = 1000
_IGNORED_MEMBERS = ("__MACOSX/", ".DS_Store")
_READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


class UnsafeArchiveError(CheckpointError):
    """A model zip holds absolute paths, ``..``, links, encrypted or oversized members."""


def _member_path(info: zipfile.ZipInfo, archive: Path) -> Optional[str]:
    """The member's safe relative path (``None`` for an ignored member); raises on anything unsafe."""
    name = info.filename
    if name.startswith(_IGNORED_MEMBERS) or name.rsplit("/", 1)[-1] == ".DS_Store":
        return None
    parts = name.rstrip("/").split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or ":" in parts[0]
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute, '..' or malformed path; refusing to extract it.")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        what = "a symbolic link" if kind == stat.S_IFLNK else "not a regular file"
        raise UnsafeArchiveError(f"{archive}: member {name!r} is {what}; model archives may hold regular files only.")
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(f"{archive}: member {name!r} is encrypted; model archives must not be.")
    if not info.is_dir() and info.compress_type not in _READABLE_METHODS:
        raise CheckpointError(
            f"{archive}: member {name!r} uses compression method {info.compress_type}, which cannot be read here "
            "(Windows Explorer writes Deflate64 for large files); re-create the zip with standard Deflate, e.g. "
            "'python -m zipfile -c MODEL.zip FOLDER'."
        )
    return "/".join(parts)


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


def _extract(archive: Path, staging: Path) -> None:
    """Validate every member, then extract the model folder's files into ``staging``."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{archive}: not a readable zip archive ({exc}); download it again.") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise UnsafeArchiveError(f"{archive}: {len(infos)} members (limit {MAX_ARCHIVE_MEMBERS}); not a model archive.")
        files = [(info, rel) for info in infos for rel in [_member_path(info, archive)] if rel and not info.is_dir()]
        if sum(info.file_size for info, _ in files) > MAX_ARCHIVE_BYTES:
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
                raise CheckpointError(
                    f"{archive}: no model_card.json at the top of the archive or of its single top-level folder; "
                    "this is not an SDSeg model zip."
                )
        for info, rel in files:
            if not rel.startswith(prefix):
                raise UnsafeArchiveError(f"{archive}: member {rel!r} lies outside the model folder {prefix!r}.")
            target = staging / rel[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with zf.open(info) as source, open(target, "wb") as sink:
                    for chunk in iter(lambda: source.read(1 << 20), b""):
                        written += len(chunk)
                        if written > info.file_size:
                            raise UnsafeArchiveError(f"{archive}: member {rel!r} is larger than its header says; refusing it.")
                        sink.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise CheckpointError(f"{archive}: member {rel!r} is corrupt ({exc}); download the zip again.") from None
    root = staging.resolve()
    for path in staging.rglob("*"):
        if path.is_symlink() or root not in path.resolve().parents:
            raise UnsafeArchiveError(f"{archive}: extraction produced {path}, outside the staging folder; refusing it.")


def import_zip(
    zip_path: PathLike,
    registry: Optional[Registry] = None,
    home: Optional[PathLike] = None,
    force: bool = False,
    expected_sha256: Optional[str] = None,
    on_wait: Optional[Callable[[str], None]] = None,
) -> ResolvedModel:
    """Install a model zip the user downloaded into the cache, safely and atomically.

    Steps: sha256 of the zip (checked against ``expected_sha256`` and against the registry
    entry of the same id and version, when either is known); every member path checked (no
    absolute paths, ``..``, links, encrypted or oversized members); extraction into a staging
    folder inside the cache; the model card's ``model_id``/``version`` must be folder-safe and
    every weight file it lists must lie inside the folder and match its sha256; then one
    ``os.replace`` puts the folder at ``<home>/<id>/<version>``. From the extraction on, the
    import holds the cache's lock: another import into the same cache waits for it, then
    removes the staging folders of killed imports (see :mod:`SDSegLogic.model_cache_lock`).

    Args:
        zip_path: the archive: a model folder's files at its top, or inside one top-level folder.
        registry: default :meth:`Registry.load`.
        home: cache root, default :func:`models_home`.
        force: replace an installed copy of the same id and version.
        expected_sha256: sha256 the zip must have.
        on_wait: called with a sentence when another import into the cache is running and this
            one waits for it.

    Returns:
        The installed model.

    Raises:
        InputError: the zip file does not exist.
        UnsafeArchiveError, CheckpointError, ModelCardError, ConfigError: the archive is refused;
            nothing is left behind in the cache.
    """
    archive = Path(zip_path).expanduser()
    if not archive.is_file():
        raise InputError(f"{archive}: no such file; give the path of the model zip you downloaded.")
    registry = registry if registry is not None else Registry.load()
    home = Path(home if home is not None else models_home())
    if expected_sha256:  # as copied from a web page or a .sha256 file: surrounding blanks are not part of it
        expected_sha256 = expected_sha256.strip()
        if not re.fullmatch(r"[0-9a-fA-F]{64}", expected_sha256):
            raise InputError(f"expected sha256 {expected_sha256!r} is not a sha256 digest (64 hexadecimal digits); "
                             "pass only the digest published with the zip.")
    digest = sha256_file(archive)
    if expected_sha256 and digest != expected_sha256.lower():
        raise CheckpointError(f"{archive}: sha256 {digest} differs from the expected {expected_sha256}; download it again.")
    home.mkdir(parents=True, exist_ok=True)
    with cache_import_lock(home, on_wait) as locked:
        if locked:
            remove_import_debris(home)
        return _install(archive, digest, registry, home, force)


def _install(archive: Path, digest: str, registry: Registry, home: Path, force: bool) -> ResolvedModel:
    """Extract, check and move the model into place (the caller holds the cache's lock)."""
    from .model_card import ModelCard
    from .model_folder import verify_model_folder

    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=home))
    staged: Optional[Path] = None  # the first staging folder, when the model is moved to another disk
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700; an installed model is shared data (SDSEG_HOME)
    try:
        _extract(archive, staging)
        card = ModelCard.from_json(staging / "model_card.json")
        destination = cache_folder(card.model_id, card.version, home)
        for rel in card.weights:
            parts = Path(rel).parts
            if Path(rel).is_absolute() or ".." in parts:
                raise CheckpointError(
                    f"{archive}: the model card lists weight file {rel!r} outside the model folder; "
                    "an imported model must contain all its weights (copy the shared file into the zip)."
                )
        problems = verify_model_folder(staging)
        if problems:
            raise CheckpointError(f"{archive}: the model inside fails verification: " + " ".join(problems))
        entry = registry.get(card.model_id, card.version)
        if entry is not None and entry.sha256 and entry.sha256 != digest:
            raise CheckpointError(
                f"{archive}: sha256 {digest} differs from the registry's {entry.sha256} for {card.model_id} "
                f"{card.version}; the download is corrupt or not the published file."
            )
        record = {"zip": archive.name, "zip_sha256": digest, "installed_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (staging / INSTALL_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if destination.exists() and not force:
            raise CheckpointError(
                f"{destination}: {card.model_id} {card.version} is already installed; pass --force to replace it."
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        if os.stat(destination.parent).st_dev != os.stat(staging).st_dev:  # <home>/<id> links to another disk
            staged = staging
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=destination.parent))
            shutil.copytree(staged, staging, dirs_exist_ok=True)
            os.chmod(staging, 0o777 & ~current_umask())
            shutil.rmtree(staged, ignore_errors=True)
        move_folder_into_place(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
        raise
    return ResolvedModel(destination, "cache", card.model_id, card.version, entry)
