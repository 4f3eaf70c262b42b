"""``sdseg`` when its reader goes away (``| head``) and when Ctrl-C arrives while outputs are written.

Real processes, a real pipe and real signals; the tiny model folder and CT crop of
cli_segment_fixtures. A closed stdout must end the run quietly with the POSIX code of SIGPIPE
(128 + 13), keeping every finished output and leaving no partial or temporary file. Ctrl-C while
the outputs of an input are renamed into place must neither be forgotten (exit 0) nor leave a
mixed set of old and new files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_segment_fixtures import SAMPLE_CT, crop, isolated_home, tiny_folder  # noqa: F401 (fixtures)

sitk = pytest.importorskip("SimpleITK")

REPO = Path(__file__).resolve().parents[2]
PIPE_CLOSED = 128 + 13  # what a shell reports for a process ended by SIGPIPE
pytestmark = pytest.mark.skipif(os.name != "posix", reason="pipes closed early and SIGINT as on POSIX systems")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _quiet(stderr: str) -> None:
    for noise in ("Traceback", "Exception ignored", "BrokenPipeError", "Broken pipe"):
        assert noise not in stderr, stderr


def _no_temporaries(folder: Path) -> None:
    assert not [p.name for p in folder.rglob(".sdseg-*")], "temporary files left behind"


@pytest.mark.parametrize("argv", [["--version"], ["models", "list"], ["models", "list", "--json"]])
def test_a_closed_stdout_ends_other_commands_quietly(argv):
    proc = subprocess.Popen([sys.executable, "-m", "SDSegLogic", *argv], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before the first line: every write meets a closed pipe
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == PIPE_CLOSED, err
    _quiet(err)


def test_json_into_head_stops_quietly_and_keeps_the_finished_outputs(tiny_folder, crop, tmp_path):
    """``sdseg segment a b --json | head``: a finished after the reader left; b is stopped, nothing partial."""
    out = tmp_path / "out"
    slow = tmp_path / "slow.nrrd"  # the whole CT with 4 DDIM steps per slice: still running when the reader leaves
    slow.symlink_to(SAMPLE_CT)
    proc = subprocess.Popen([sys.executable, "-m", "SDSegLogic", "segment", str(crop), str(slow), "-o", str(out),
                             "--prob-map", str(out), "--model", str(tiny_folder), "--batch-size", "1", "--steps", "4",
                             "--device", "cpu", "--json"],
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in proc.stdout:
            seen.append(json.loads(line))
            if seen[-1]["event"] == "progress" and seen[-1]["volume"] == 2 and seen[-1]["done"] >= 1:
                break
        proc.stdout.close()  # as head does after its lines
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert [e["event"] for e in seen if e["event"] == "volume_done"] == ["volume_done"]
    assert proc.returncode == PIPE_CLOSED, err
    _quiet(err)
    finished = sitk.ReadImage(str(out / "crop.seg.nrrd"))
    assert finished.GetSize() == sitk.ReadImage(str(crop)).GetSize()
    assert (out / "crop.prob.nrrd").exists()
    assert not (out / "slow.seg.nrrd").exists() and not (out / "slow.prob.nrrd").exists()
    _no_temporaries(tmp_path)


# Presses Ctrl-C (a real SIGINT to this process) while the output named by argv[1] is renamed into
# place, argv[2] times, then runs ``sdseg`` with the rest of argv and exits with its code.
_CTRL_C_DURING_RENAME = """
import signal, sys
from SDSegLogic.cli import main
target, presses = sys.argv[1], int(sys.argv[2])
pressed = []
def hook(event, args):
    if event == "os.rename" and not pressed and str(args[1]).endswith(target):
        pressed.append(True)
        for _ in range(presses):
            signal.raise_signal(signal.SIGINT)
            sum(range(100))  # a few bytecodes: the Python-level handler runs before the next press
sys.addaudithook(hook)
code = main(sys.argv[3:])
print("pressed" if pressed else "never pressed", file=sys.stderr)
sys.exit(code)
"""


def _segment_with_ctrl_c(tiny_folder, crop, out: Path, seed: int, target: str, presses: int):
    argv = ["segment", str(crop), "-o", str(out / "ct.seg.nrrd"), "--prob-map", str(out / "ct.prob.nrrd"),
            "--model", str(tiny_folder), "--device", "cpu", "--seed", str(seed), "--json"]
    return subprocess.run([sys.executable, "-c", _CTRL_C_DURING_RENAME, target, str(presses), *argv], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=300)


def test_ctrl_c_while_the_last_outputs_are_renamed_is_not_forgotten(tiny_folder, crop, tmp_path):
    """One Ctrl-C during the final renames: the outputs are completed, and the exit code says cancelled (5)."""
    out = tmp_path / "out"
    done = _segment_with_ctrl_c(tiny_folder, crop, out, 0, "ct.prob.nrrd", presses=1)
    assert "pressed" in done.stderr.splitlines()[-1], done.stderr
    assert done.returncode == 5, done.stdout + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[-1]["event"] == "error" and events[-1]["exit_code"] == 5
    assert "done" not in [e["event"] for e in events]
    sitk.ReadImage(str(out / "ct.seg.nrrd"))  # completed, readable
    sitk.ReadImage(str(out / "ct.prob.nrrd"))
    _no_temporaries(tmp_path)


def test_a_second_ctrl_c_during_the_renames_never_mixes_old_and_new_outputs(tiny_folder, crop, tmp_path):
    """Ctrl-C twice (interrupt at once) between the renames of one input's outputs: all new or all old."""
    out = tmp_path / "out"
    first = _segment_with_ctrl_c(tiny_folder, crop, out, 0, "never-renamed", presses=0)
    assert first.returncode == 0, first.stderr
    old = {name: (out / name).read_bytes() for name in ("ct.seg.nrrd", "ct.prob.nrrd")}
    # another seed gives other soft maps; the segmentation is renamed last, after the probabilities
    second = _segment_with_ctrl_c(tiny_folder, crop, out, 12345, "ct.seg.nrrd", presses=2)
    assert "pressed" in second.stderr.splitlines()[-1], second.stderr
    assert second.returncode == 5, second.stdout + second.stderr
    new = {name: (out / name).read_bytes() for name in old}
    changed = {name for name in old if new[name] != old[name]}
    assert changed in (set(), set(old)), f"only {sorted(changed)} of {sorted(old)} were replaced"
    _no_temporaries(tmp_path)


# ---------------------------------------------------------------------- output names keep the input's case
def test_folder_outputs_keep_the_case_of_the_input_names(tiny_folder, crop, tmp_path):
    """``CT_Patient1.nrrd`` gives ``CT_Patient1.seg.nrrd`` (NAME.seg.nrrd, as documented), not a lower-cased name."""
    import shutil

    from SDSegLogic.cli import main

    inputs = [shutil.copy(crop, tmp_path / "CT_Patient1.nrrd"), shutil.copy(crop, tmp_path / "Liver.MHA.nrrd")]
    out = tmp_path / "out"
    code = main(["segment", *map(str, inputs), "-o", f"{out}/", "--prob-map", f"{out}/", "--model", str(tiny_folder),
                 "--device", "cpu", "--quiet"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["CT_Patient1.prob.nrrd", "CT_Patient1.seg.nrrd",
                                                      "Liver.MHA.prob.nrrd", "Liver.MHA.seg.nrrd"]


# ---------------------------------------------------------------------- a console that cannot spell the input's name
def test_a_non_ascii_input_name_on_a_narrow_console_encoding(tiny_folder, crop, tmp_path):
    """stdout in a code page without the name's characters (a Windows pipe or log file): the run succeeds.

    ``--json`` lines are ASCII (``\\u`` escapes) and parse back to the exact name; summary lines escape what
    the encoding lacks instead of failing after the outputs were written.
    """
    import shutil

    scan = Path(shutil.copy(crop, tmp_path / "Leber_肝臓.nrrd"))
    env = {**_env(), "PYTHONIOENCODING": "cp1252"}
    base = [sys.executable, "-m", "SDSegLogic", "segment", str(scan), "--model", str(tiny_folder), "--device", "cpu"]
    done = subprocess.run(base + ["-o", str(tmp_path / "a.seg.nrrd"), "--json"], cwd=REPO, env=env,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode("cp1252", "replace")
    events = [json.loads(line) for line in done.stdout.decode("ascii").splitlines()]
    assert events[-1]["event"] == "done" and events[-1]["outputs"] == {str(scan): str(tmp_path / "a.seg.nrrd")}
    text = subprocess.run(base + ["-o", str(tmp_path / "b.seg.nrrd")], cwd=REPO, env=env, capture_output=True,
                          timeout=300)
    assert text.returncode == 0, text.stderr.decode("cp1252", "replace")
    assert "segmented 1 of 1" in text.stdout.decode("cp1252") and (tmp_path / "b.seg.nrrd").exists()
