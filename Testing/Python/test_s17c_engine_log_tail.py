"""The last lines of a session's engine log are read from its end, with the same result as reading it whole."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from SDSegExtension.SDSegLib.engine_runner import read_log_tail
from SDSegLogic.server.log_tail import TAIL_BLOCK_BYTES, tail_lines
from SDSegLogic.server.process import EngineProcess  # noqa: F401  (the module whose _tail uses the same reader)


def _whole_file_tail(path: Path, lines: int) -> str:
    """What read_log_tail returned before: the whole log read and split."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.strip().splitlines()[-lines:])


class CountingReader(io.RawIOBase):
    """A real file opened for reading, counting the bytes read from it."""

    def __init__(self, path: Path, opener=io.open) -> None:
        self._file = opener(path, "rb")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()


def _session_log(path: Path, megabytes: int = 4) -> Path:
    """A log of several engine sessions: multi-byte text, CRLF lines, blank lines and trailing white space."""
    line = "2026-12-07 10:00:00 sdseg-engine INFO job 0123456789 slice {i} done — ünïcode ✓\n"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        i, written = 0, 0
        while written < megabytes << 20:
            text = line.format(i=i) if i % 97 else f"engine restarted {i}\r\n\n"
            handle.write(text)
            written += len(text.encode("utf-8"))
            i += 1
        handle.write("last line without a newline \xa0 \n\n  \n")
    return path


@pytest.mark.parametrize("lines", [1, 20, 500])
def test_the_tail_of_a_multi_megabyte_log_is_the_same_and_read_from_the_end(tmp_path, lines):
    """read_log_tail read the whole session log (megabytes after many restarts) on every call."""
    path = _session_log(tmp_path / "engine.log")
    size = path.stat().st_size
    assert size > 4 << 20
    expected = _whole_file_tail(path, lines)
    assert read_log_tail(path, lines) == expected
    reader = CountingReader(path)
    try:
        assert tail_lines(reader, lines) == expected
    finally:
        reader.close()
    assert reader.bytes_read <= 2 * TAIL_BLOCK_BYTES + 200 * lines, (reader.bytes_read, size)


def test_read_log_tail_reads_a_bounded_amount_of_a_real_log_file(tmp_path, monkeypatch):
    """Through the Slicer function itself: the bytes it reads from the log do not grow with the log.

    Every open of the log (``open`` or ``Path.read_text``, which goes through ``io.open``) gets the
    real file wrapped in a :class:`CountingReader`.
    """
    import builtins

    path = _session_log(tmp_path / "engine.log")
    expected = _whole_file_tail(path, 20)
    opened = []
    real_open = io.open

    def counting_open(file, mode="r", *args, **kwargs):
        if not isinstance(file, int) and Path(file) == path:
            reader = CountingReader(path, real_open)
            opened.append(reader)
            buffered = io.BufferedReader(reader)
            return buffered if "b" in mode else io.TextIOWrapper(buffered, encoding=kwargs.get("encoding"),
                                                                  errors=kwargs.get("errors"))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    try:
        result = read_log_tail(path, 20)
    finally:
        monkeypatch.undo()
    assert result == expected
    assert opened, "the log was not opened"
    read = sum(reader.bytes_read for reader in opened)
    assert read < path.stat().st_size // 8, f"read {read} bytes of a {path.stat().st_size}-byte log for 20 lines"


@pytest.mark.parametrize("text", ["", "   \n\n", "one", "a\nb\r\nc\n", "\n\nx\n\n", "é" * 70000 + "\nlast\n"])
def test_small_and_odd_logs_give_what_the_whole_file_gave(tmp_path, text):
    path = tmp_path / "engine.log"
    path.write_bytes(text.encode("utf-8"))
    for lines in (0, 1, 2, 5):
        assert read_log_tail(path, lines) == _whole_file_tail(path, lines), (text[:20], lines)


def test_a_missing_log_is_empty(tmp_path):
    assert read_log_tail(tmp_path / "none.log") == "" and read_log_tail(None) == ""
