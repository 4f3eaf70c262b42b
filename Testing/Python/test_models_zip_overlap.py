"""Model zips whose members overlap (the "quoted overlap" zip bomb): refused before anything is unpacked."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import List, Tuple

import pytest
from test_registry import home, tiny_folder  # noqa: F401 - pytest fixtures (a tiny model folder, a models home)

from SDSegLogic.model_folder import verify_model_folder
from SDSegLogic.model_zip import UnsafeArchiveError, import_zip
from SDSegLogic.registry import Registry


def _local_header(name: bytes, crc: int, size: int) -> bytes:
    return struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, size, size, len(name), 0) + name


def _central_header(name: bytes, crc: int, size: int, offset: int) -> bytes:
    return struct.pack("<4s6H3I5HII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc, size, size, len(name), 0, 0, 0, 0,
                       0, offset) + name


def _write_zip(path: Path, members: List[Tuple[bytes, int, int, int]], body: bytes) -> Path:
    """``body`` (local headers and data) then a central directory of (name, crc, size, offset) entries."""
    directory = b"".join(_central_header(*member) for member in members)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    path.write_bytes(body + directory + end)
    return path


def _model_with_overlapping_members(folder: Path, path: Path, copies: int, payload: bytes) -> Path:
    """A valid stored model zip, followed by a "quoted overlap" chain of ``copies`` members.

    Member k has no data of its own: its declared data is the local headers of members k+1...
    and the shared payload, so each member unpacks to (almost) the whole chain.
    """
    body, members = b"", []
    for file in sorted(folder.iterdir()):
        data, name = file.read_bytes(), file.name.encode()
        members.append((name, zlib.crc32(data), len(data), len(body)))
        body += _local_header(name, zlib.crc32(data), len(data)) + data
    chain, headers = payload, []
    for k in reversed(range(copies)):  # the content of member k = header of k+1 + content of k+1
        name = f"notes/part-{k}.txt".encode()
        header = _local_header(name, zlib.crc32(chain), len(chain))
        headers.insert(0, (name, zlib.crc32(chain), len(chain)))
        chain = header + chain
    start = len(body)
    for name, crc, size in headers:
        members.append((name, crc, size, start))
        start += 30 + len(name)
    return _write_zip(path, members, body + chain)


def test_a_well_formed_hand_written_zip_of_the_model_installs(tiny_folder, tmp_path, home):
    """The writer above is sound: without overlapping members its zip installs."""
    archive = _model_with_overlapping_members(tiny_folder, tmp_path / "plain.zip", 0, b"")
    assert verify_model_folder(import_zip(archive, Registry(), home).folder) == []


def test_overlapping_members_are_refused_before_anything_is_unpacked(tiny_folder, tmp_path, home):
    payload = b"A" * 500_000
    archive = _model_with_overlapping_members(tiny_folder, tmp_path / "bomb.zip", 20, payload)
    with zipfile.ZipFile(archive) as zf:  # what it would unpack to: about 20 copies of the payload
        declared = sum(info.file_size for info in zf.infolist())
    assert declared > 5 * archive.stat().st_size  # and 1000 members of a 16 GiB / 1000 payload would reach the limit
    with pytest.raises(UnsafeArchiveError, match="overlaps the next member"):
        import_zip(archive, Registry(), home)
    assert [p.name for p in home.iterdir()] == []
