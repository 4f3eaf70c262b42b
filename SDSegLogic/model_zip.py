"""Install a model zip that the user downloaded into the model cache, safely and atomically.

SDSeg never downloads anything. For a downloadable registry entry the user fetches the zip
(the URL and sha256 are printed by ``sdseg models info``) and runs ``sdseg models import ZIP``,
which calls :func:`import_zip`. The archive is treated as untrusted:

* every member path is checked before anything is written (a ``\\``, as older Windows tools write
  it, reads as ``/``): no absolute paths, drive letters, ``..`` components, names Windows cannot
  hold (a trailing dot or blank, ``:`` streams, ``<>"|?*``, device names such as ``NUL``), symbolic
  links, device files, encrypted members, members compressed with a method Python cannot read
  (Deflate64), duplicate names (also names that differ only in case or Unicode normalisation) or a
  file that is also used as a folder; at most
  :data:`MAX_ARCHIVE_MEMBERS` members and :data:`MAX_ARCHIVE_BYTES` unpacked, a ``model_card.json``
  and a ``config.json`` of at most 1 MiB each (both are read whole), and a member may not unpack
  to more than its header says;
* the archive holds one model: several model folders, or a second ``model_card.json`` inside the
  model's folder, are refused by name;
* the model card is read from the archive first: its ``model_id`` and ``version`` must be
  folder-safe, and every weight file it lists must lie inside the folder, be a member of the
  archive (checked before extraction; refusals name members, not the staging folder) and match its sha256;
* the cache's disk must have room for the unpacked model (:class:`InsufficientSpaceError`, raised
  before anything is written, names the bytes needed and free);
* the zip's own sha256 is checked against the caller's value and the registry entry, if known;
* every weight tensor's shape (read from the safetensors headers, no tensor loaded) must be the one the
  zip's ``config.json`` gives it, and the headers' offsets must be the ones safetensors loads
  (:mod:`SDSegLogic.weight_shapes`; skipped where torch is not installed);
* no member's data may run into another member's (the "overlapping files" zip bomb, which makes
  a small archive unpack to many times the largest size one compressed stream can reach);
* extraction goes to a staging folder in the model's cache folder ``<home>/<id>``, moved into
  place with one ``os.replace``; on any failure the staging folder is removed and the cache is
  unchanged;
* one import per model at a time holds that model's lock (:mod:`SDSegLogic.model_cache_lock`):
  imports of one model run one after the other (a waiting one is told which import it waits
  for), imports of different models at the same time; the staging folders of killed imports are
  removed.

Member checks and the card read: :mod:`SDSegLogic.model_zip_members`.

Standard library only (torch, when installed, for the weight shapes).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shutil
import time
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from .errors import CheckpointError, InputError, SDSegError
from .io.atomic import current_umask
from .model_cache_lock import STAGING_PREFIX, cache_import_lock
from .model_folder import move_folder_into_place, sha256_file
from .model_zip_members import (MAX_ARCHIVE_BYTES, MAX_ARCHIVE_MEMBERS, ArchivePlan, UnsafeArchiveError, plan_archive,
                                read_planned_card)
from .registry import PathLike, Registry, ResolvedModel, cache_folder, installed_folder, models_home
from .staging_names import make_staging

if TYPE_CHECKING:  # pragma: no cover
    from .model_card import ModelCard

__all__ = ["UnsafeArchiveError", "InsufficientSpaceError", "import_zip", "INSTALL_RECORD", "MAX_ARCHIVE_BYTES",
           "MAX_ARCHIVE_MEMBERS"]

#: Written into each imported folder: the zip's name, its sha256 and the time of import.
INSTALL_RECORD = ".sdseg-install.json"
#: Allowance per unpacked file for the file system's rounding up to whole blocks (and the folder entries).
_BLOCK_ALLOWANCE = 4096


class InsufficientSpaceError(SDSegError, OSError):
    """The disk of the model cache has less free space than the model zip unpacks to."""


def _check_free_space(folder: Path, plan: ArchivePlan, archive: Path) -> None:
    """Refuse the import before anything is written when ``folder``'s disk cannot hold the unpacked model.

    ``folder`` is the nearest existing folder on the way to ``<home>/<id>`` (a link to another
    disk is followed). An installed copy that ``--force`` replaces is deleted only after the new
    one is in place, so its space does not count.
    """
    needed = plan.unpacked_bytes + _BLOCK_ALLOWANCE * (len(plan.files) + 1)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # cannot be asked (some network shares): extraction reports a full disk itself
        return
    if free < needed:
        raise InsufficientSpaceError(
            f"{archive}: the model unpacks to {plan.unpacked_bytes} bytes ({needed} with the file system's overhead) "
            f"but {folder} has {free} bytes free; free some space there, or set SDSEG_HOME to a folder on a disk with "
            "more space. Nothing was written."
        )


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _extract(zf: zipfile.ZipFile, plan: ArchivePlan, archive: Path, staging: Path) -> None:
    """Extract the planned files of the open zip ``zf`` into ``staging``."""
    for info, rel in plan.files:
        target = staging / rel
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
    cancelled: Optional[Callable[[], bool]] = None,
) -> ResolvedModel:
    """Install a model zip the user downloaded into the cache, safely and atomically.

    Steps: sha256 of the zip (checked against ``expected_sha256`` and against the registry
    entry of the same id and version, when either is known); every member path checked (no
    absolute paths, ``..``, links, encrypted or oversized members); the model card read from
    the zip (its ``model_id``/``version`` must be folder-safe); the free space of the cache's
    disk checked against the unpacked size; then, holding the model's import lock, extraction
    into a staging folder ``<home>/<id>/.import-*``, where every weight file the card lists must
    lie inside the folder and match its sha256, and one ``os.replace`` puts the folder at
    ``<home>/<id>/<version>``. Another import of the same model waits for the lock (and is told
    which import holds it), then removes the staging folders of killed imports; imports of other
    models do not wait (see :mod:`SDSegLogic.model_cache_lock`).

    Args:
        zip_path: the archive: a model folder's files at its top, or inside one top-level folder.
        registry: default :meth:`Registry.load`.
        home: cache root, default :func:`models_home`.
        force: replace an installed copy of the same id and version.
        expected_sha256: sha256 the zip must have.
        on_wait: called with a sentence (naming the other import's process and zip) when another
            import of the same model is running and this one waits for it.
        cancelled: a cancel hook (e.g. ``threading.Event.is_set`` of Slicer's Cancel import) asked when the
            import reaches the model's lock and while it waits there (see :func:`cache_import_lock`); None:
            the wait blocks (Ctrl-C stops it in a terminal).

    Returns:
        The installed model.

    Raises:
        InputError: the zip file does not exist.
        InsufficientSpaceError: the cache's disk has less free space than the model needs; nothing
            was written.
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
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{archive}: not a readable zip archive ({exc}); download it again.") from None
    home.mkdir(parents=True, exist_ok=True)
    with zf:
        plan = plan_archive(zf, archive)
        card = read_planned_card(zf, plan, archive)
        destination = cache_folder(card.model_id, card.version, home)
        _check_free_space(_existing_ancestor(destination.parent), plan, archive)
        note = f"process {os.getpid()} importing {archive}, started {time.strftime('%H:%M:%S', time.gmtime())} UTC"
        with cache_import_lock(home, card.model_id, on_wait, note, cancelled=cancelled):
            return _install(zf, plan, card, archive, digest, registry, destination, force)


def _install(zf: zipfile.ZipFile, plan: ArchivePlan, card: "ModelCard", archive: Path, digest: str,
             registry: Registry, destination: Path, force: bool) -> ResolvedModel:
    """Extract, check and move the model into place (the caller holds the model's import lock)."""
    from .model_card import ModelCard
    from .model_folder import verify_model_folder
    from .weight_shapes import check_folder_shapes

    installed = installed_folder(card.model_id, card.version, destination.parent.parent)  # any letter case
    if (installed is not None or os.path.lexists(destination)) and not force:
        where = installed or destination
        also = "" if where.name == card.version else (
            f" as version {where.name} (versions differing only in case are one version: one folder on Windows and macOS)")
        raise CheckpointError(f"{where}: {card.model_id} {card.version} is already installed{also}; pass --force to "
                              "replace it.")
    for rel in card.weights:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise CheckpointError(
                f"{archive}: the model card lists weight file {rel!r} outside the model folder; "
                "an imported model must contain all its weights (copy the shared file into the zip)."
            )
    members = {rel for _, rel in plan.files}
    absent = sorted(rel for rel in card.weights if posixpath.normpath(rel) not in members)
    if absent:  # found before GBs are unpacked, and named as the zip's members (not a removed staging folder)
        raise CheckpointError(
            f"{archive}: the model card lists weight file(s) {', '.join(repr(plan.prefix + rel) for rel in absent)} "
            "that the zip does not hold (names must match in letter case); zip the complete model folder again."
        )
    entry = registry.get(card.model_id, card.version)
    if entry is not None and entry.sha256 and entry.sha256 != digest:
        raise CheckpointError(
            f"{archive}: sha256 {digest} differs from the registry's {entry.sha256} for {card.model_id} "
            f"{card.version}; the download is corrupt or not the published file."
        )
    made_folder = not os.path.lexists(destination.parent)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # staging next to the destination: on its disk (<home>/<id> may link to another one), so one rename moves it in
    staging = make_staging(destination.parent, STAGING_PREFIX)
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700; an installed model is shared data (SDSEG_HOME)
    try:
        _extract(zf, plan, archive, staging)
        staged = ModelCard.from_json(staging / "model_card.json")
        if (staged.model_id, staged.version) != (card.model_id, card.version):
            raise CheckpointError(f"{archive}: changed while it was being imported; import it again.")
        problems = verify_model_folder(staging)
        if problems:  # named as members of the zip: the staging folder is removed before the user reads this
            text = " ".join(problems).replace(f"{staging}{os.sep}", plan.prefix).replace(str(staging), plan.prefix or ".")
            raise CheckpointError(f"{archive}: the model inside fails verification: {text}")
        check_folder_shapes(staging, source=str(archive))  # headers only: a wrong config.json is refused here
        record = {"zip": archive.name, "zip_sha256": digest, "installed_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (staging / INSTALL_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if installed is not None and installed != destination:  # the same version, named in another case
            move_folder_into_place(staging, installed)
            os.replace(installed, destination)  # a whole model under either name at every instant
        else:
            move_folder_into_place(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if made_folder:  # leave no empty <home>/<id> behind (only this model's imports write there)
            with contextlib.suppress(OSError):
                destination.parent.rmdir()
        raise
    return ResolvedModel(destination, "cache", card.model_id, card.version, entry)
