"""A signal at the worst instant leaves no temporary file of ``sdseg segment`` behind.

Two temporary files exist for an instant: the ``.sdseg-*.probe`` file with which every output folder
is probed before the model loads, and the ``.sdseg-*`` file each output is staged in. Real signals are
raised in a real ``sdseg`` process just after such a file was created, before its name is known to
the code that removes it (a profile hook raises them when the new file's descriptor is closed). The
run must end as cancelled (exit code 5) and leave the folder as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, isolated_home, tiny_folder  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]
EXIT_CANCELLED = 5
pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGINT and SIGTERM as on POSIX systems")

# argv[1:4]: signal name, function, presses. When that function closes a descriptor (of the file it just
# created), the signal is raised that many times (a second Ctrl-C interrupts at once); then sdseg runs argv[4:].
CHILD = """
import os, signal, sys
sig, where, presses = getattr(signal, sys.argv[1]), sys.argv[2], int(sys.argv[3])
def hook(frame, event, arg):
    if event == "c_call" and arg is os.close and frame.f_code.co_name == where:
        sys.setprofile(None)
        for _ in range(presses):
            signal.raise_signal(sig)
sys.setprofile(hook)
from SDSegLogic.cli import main
sys.exit(main(sys.argv[4:]))
"""


def _interrupted(tiny_folder, crop, folder: Path, signame: str, where: str, presses: int):
    """``sdseg segment crop -o folder/crop.seg.nrrd`` in a child that raises ``signame`` inside ``where``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", CHILD, signame, where, str(presses), "segment", str(crop), "-o",
                           str(folder / "crop.seg.nrrd"), "--model", str(tiny_folder), "--device", "cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_output_folder_is_probed_leaves_no_probe_file(tiny_folder, crop, tmp_path, signame):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "earlier.txt").write_text("kept")
    proc = _interrupted(tiny_folder, crop, folder, signame, "_probe_folder", 1)
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, proc.stderr)
    assert sorted(p.name for p in folder.iterdir()) == ["earlier.txt"], "the probe file was left behind"
    assert "Traceback" not in proc.stderr


def test_two_ctrl_c_while_an_output_is_staged_leave_no_temporary_file(tiny_folder, crop, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "earlier.txt").write_text("kept")
    proc = _interrupted(tiny_folder, crop, folder, "SIGINT", "atomic_output", 2)
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, proc.stderr)
    assert sorted(p.name for p in folder.iterdir()) == ["earlier.txt"], "a staged temporary file was left behind"
