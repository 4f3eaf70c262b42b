"""An output that cannot be written leaves no empty folder that ``sdseg segment`` created for it.

A real process with a real model folder and a real write failure: the file-size limit
(``RLIMIT_FSIZE``) is set below the size of the probability map, so writing it fails with EFBIG
after the (small) segmentation was staged, as a full disk would. The run reports an output error
(exit code 6); the folders it made for its outputs are removed again, and a folder that existed
before stays, with what it held.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, isolated_home, tiny_folder  # noqa: F401 (fixtures)

resource = pytest.importorskip("resource")  # POSIX only
sitk = pytest.importorskip("SimpleITK")

REPO = Path(__file__).resolve().parents[2]
EXIT_OUTPUT = 6
LIMIT = 100_000  # bytes: above the segmentation (~10 kB), below the float32 probability map (~700 kB)


def _segment(argv, limit: int = LIMIT) -> subprocess.CompletedProcess:
    """``python -m SDSegLogic segment argv`` in a process that may write files of at most ``limit`` bytes."""
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "SDSegLogic", "segment", *[str(a) for a in argv]], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size)


def test_a_failed_write_removes_the_folders_it_created_and_keeps_the_others(tiny_folder, crop, tmp_path):
    before = tmp_path / "before"
    before.mkdir()
    (before / "notes.txt").write_text("kept")
    empty = tmp_path / "empty"
    empty.mkdir()
    seg = before / "made" / "crop.seg.nrrd"
    prob = tmp_path / "new" / "deeper" / "crop.prob.nrrd"
    preview = empty / "crop.preview.png"
    proc = _segment([crop, "-o", seg, "--prob-map", prob, "--preview", preview, "--model", tiny_folder,
                     "--device", "cpu"])
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert str(prob) in proc.stderr  # the output that failed is named
    assert not (before / "made").exists() and not (tmp_path / "new").exists(), "empty output folders were left"
    assert sorted(p.name for p in before.iterdir()) == ["notes.txt"]
    assert empty.is_dir() and not list(empty.iterdir())  # existed before: stays, and holds no partial file


def test_folders_holding_an_earlier_input_s_outputs_stay_when_a_later_write_fails(tiny_folder, crop, tmp_path):
    """One slice, then four, into new folders: the first fits the limit, the second's probability map does not."""
    one = tmp_path / "one.nrrd"
    sitk.WriteImage(sitk.ReadImage(str(crop))[:, :, :1], str(one), True)
    segs, probs = tmp_path / "new" / "segs", tmp_path / "new" / "probs"
    proc = _segment([one, crop, "-o", f"{segs}/", "--prob-map", f"{probs}/", "--model", tiny_folder,
                     "--device", "cpu"], limit=400_000)
    assert proc.returncode == EXIT_OUTPUT, proc.stderr
    assert str(probs / "crop.prob.nrrd") in proc.stderr
    assert sorted(p.name for p in segs.iterdir()) == ["one.seg.nrrd"]
    assert sorted(p.name for p in probs.iterdir()) == ["one.prob.nrrd"]
