"""``sdseg segment`` when stderr cannot be written: the progress bar is for people, the outputs are the job.

Real processes with a real model folder. stderr closed when the process starts (``2>&-``: Python
then has ``sys.stderr = None``), stderr left on a read-only descriptor (what ``2>&-`` gives through a
pyenv shim, whose shell keeps its script open on the freed descriptor 2: every write fails with
EBADF) and stderr on a full device (``/dev/full``: ENOSPC) must all segment, write the output and
exit 0, as with a working stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, isolated_home, tiny_folder  # noqa: F401 (fixtures)

sitk = pytest.importorskip("SimpleITK")

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="closed descriptors and /dev/full as on POSIX systems")


def _segment(argv, stderr_setup: str) -> subprocess.CompletedProcess:
    """Run ``python -m SDSegLogic segment argv`` with stderr set up by ``stderr_setup`` (a shell redirection)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    script = f'exec "$0" -m SDSegLogic segment "$@" {stderr_setup}'
    return subprocess.run(["sh", "-c", script, sys.executable, *[str(a) for a in argv]], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, text=True, timeout=300)


@pytest.mark.parametrize("stderr_setup", [
    "2>&-",
    "2<" + str(REPO / "README.md"),
    pytest.param("2>/dev/full", marks=pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")),
], ids=["closed", "read-only", "full"])
def test_segment_with_an_unwritable_stderr_keeps_its_outputs(tiny_folder, crop, tmp_path, stderr_setup):
    out, prob = tmp_path / "out" / "crop.seg.nrrd", tmp_path / "out" / "crop.prob.nrrd"
    proc = _segment([crop, "-o", out, "--prob-map", prob, "--model", tiny_folder, "--device", "cpu"], stderr_setup)
    assert proc.returncode == 0, proc.stdout
    assert f"-> {out}" in proc.stdout  # the summary on stdout still tells what was written
    assert sitk.ReadImage(str(out)).GetSize() == sitk.ReadImage(str(crop)).GetSize()
    assert prob.exists()


def test_a_failed_input_with_debug_and_an_unwritable_stderr_keeps_its_exit_code(tiny_folder, crop, tmp_path):
    bad = tmp_path / "bad.nrrd"
    bad.write_text("not an image")
    out = tmp_path / "out"
    proc = _segment([bad, crop, "-o", out, "--model", tiny_folder, "--device", "cpu", "--debug"],
                    "2<" + str(REPO / "README.md"))
    assert proc.returncode == 3, proc.stdout  # the input error of bad.nrrd, not an unexpected one (1)
    assert "Traceback" not in proc.stdout and (out / "crop.seg.nrrd").exists()
