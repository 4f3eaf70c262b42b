"""``sdseg segment --json`` whose stdout cannot take the events (started with it closed, ``>&-``, or
read-only, ``1</dev/null``) still segments: the outputs are written, the exit code is the run's, stderr
says once that the events are lost, and an input's error reaches stderr as a line for people."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, isolated_home, tiny_folder  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]


def _segment(argv, stdout_mode: str, home: Path) -> subprocess.CompletedProcess:
    """Runs ``sdseg segment`` in a child whose fd 1 is closed or opened read-only."""
    redirect = ("os.close(1)" if stdout_mode == "closed" else
                "fd = os.open(os.devnull, os.O_RDONLY); os.dup2(fd, 1); os.close(fd)")
    child = (f"import os, sys; {redirect}\n"
             "from SDSegLogic.cli import main\n"
             "sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, SDSEG_HOME=str(home), OMP_NUM_THREADS="1")
    env.pop("SDSEG_REGISTRY", None)
    return subprocess.run([sys.executable, "-c", child, "segment", *[str(a) for a in argv], "--json"], cwd=REPO,
                          env=env, stderr=subprocess.PIPE,
                          text=True, timeout=600)


@pytest.mark.parametrize("stdout_mode", ["closed", "read-only"])
def test_segment_with_json_events_lost_writes_the_outputs_and_warns_once(tmp_path, crop, tiny_folder, stdout_mode):  # noqa: F811
    broken = tmp_path / "broken.nrrd"
    broken.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 4 4\n\n")  # a header that contradicts itself
    done = _segment([crop, broken, "-o", tmp_path / "results", "--model", tiny_folder, "--device", "cpu"],
                    stdout_mode, tmp_path / "home")
    assert (tmp_path / "results" / "crop.seg.nrrd").is_file(), done.stderr
    assert done.returncode == 3, done.stderr  # one input failed: the input-error code, as with a writable stdout
    assert done.stderr.count("--json events") == 1, done.stderr
    assert "broken.nrrd" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "results" / "broken.seg.nrrd").exists()
