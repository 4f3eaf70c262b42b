"""Pack a GPU session's work folder into the few files a device call brings back.

A device call returns at most 8 files from ``$OUT`` (16 MiB each, names of letters, digits,
``.``, ``_`` and ``-``; see the device README), and ``gpu_session.sh`` makes about twenty (a log
and a JSON per step). So the steps write into a work folder and, after every step, this module
rewrites two files in ``OUT``, each atomically (a temporary file in ``OUT``, then a rename), so a
call cut off at its limit still brings back everything up to the last finished step:

* ``results.json``: ``{"steps": [...], "results": {file stem: parsed JSON}, "gpu_csv": text,
  "left_out": [...]}``, every step's JSON result in one file;
* ``logs.tgz``: every text file of the work folder (logs, JSON, TSV, CSV, YAML), any depth; a file
  over ``MAX_FILE_BYTES`` keeps only its last ``MAX_FILE_BYTES`` (the end of a log says most).

Weights and other binary files stay in the work folder.

Usage::

    python benchmarks/session_bundle.py WORK OUT
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

TEXT_SUFFIXES = (".json", ".log", ".tsv", ".csv", ".txt", ".yaml", ".md")
MAX_FILE_BYTES = 2 * 2**20


def _atomic_write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix="." + target.name + ".", suffix=".tmp", dir=str(target.parent))
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would make the result unreadable to other users
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _text_files(work: Path) -> List[Path]:
    return sorted(p for p in work.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES and not p.name.startswith("."))


def _steps(work: Path) -> List[Dict[str, object]]:
    """Rows of ``steps.tsv`` (name, rc or OFF/SKIP, seconds)."""
    table = work / "steps.tsv"
    rows = []
    if table.is_file():
        for line in table.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                rows.append({"step": parts[0], "rc": parts[1], "seconds": parts[2]})
    return rows


def bundle(work: Path, out: Path) -> Dict[str, object]:
    """Write ``out/results.json`` and ``out/logs.tgz`` from ``work``; returns the results dict.

    Args:
        work: the session's work folder (step logs and JSON results, any depth).
        out: the folder a device call brings back (created when missing).

    Raises:
        FileNotFoundError: ``work`` is not a folder.
    """
    work, out = Path(work), Path(out)
    if not work.is_dir():
        raise FileNotFoundError(f"session work folder {work} does not exist; pass the folder gpu_session.sh wrote into.")
    out.mkdir(parents=True, exist_ok=True)
    results: Dict[str, object] = {}
    left_out: List[str] = []
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in _text_files(work):
            relative = path.relative_to(work).as_posix()
            data = path.read_bytes()
            if path.suffix == ".json" and path.parent == work:
                try:
                    results[path.stem] = json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    left_out.append(f"{relative}: not valid JSON ({exc})")
            if len(data) > MAX_FILE_BYTES:
                left_out.append(f"{relative}: {len(data)} bytes, only the last {MAX_FILE_BYTES} kept in logs.tgz")
                data = data[-MAX_FILE_BYTES:]
            info = tarfile.TarInfo(relative)
            info.size = len(data)
            info.mtime = int(path.stat().st_mtime)
            tar.addfile(info, io.BytesIO(data))
    gpu_csv = work / "gpu.csv"
    summary = {
        "work_dir": str(work),
        "steps": _steps(work),
        "gpu_csv": gpu_csv.read_text(encoding="utf-8", errors="replace") if gpu_csv.is_file() else None,
        "results": results,
        "left_out": left_out,
    }
    _atomic_write(out / "results.json", (json.dumps(summary, indent=2, default=str) + "\n").encode("utf-8"))
    _atomic_write(out / "logs.tgz", buffer.getvalue())
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python benchmarks/session_bundle.py WORK OUT", file=sys.stderr)
        return 2
    try:
        bundle(Path(args[0]), Path(args[1]))
    except (OSError, tarfile.TarError) as exc:
        print(f"session_bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
