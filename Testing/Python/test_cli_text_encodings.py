"""``sdseg models``/``sdseg score`` on a console that cannot spell a name, without stdout, and with ``--json`` first.

Real processes: a registry whose model title and class names are not ASCII, label files whose
names are Japanese, stdout encoded as ASCII or cp1252 (a Windows pipe or log file). The reports
must escape what the encoding lacks instead of failing with UnicodeEncodeError after the work was
done; a process started without stdout (``>&-``) or whose reader left (``| head``) ends quietly;
``sdseg --json COMMAND`` prints JSON as ``sdseg COMMAND --json`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_test_helpers import entry, write_registry

sitk = pytest.importorskip("SimpleITK")

REPO = Path(__file__).resolve().parents[2]
TITLE = "Leber (肝臓) modèle"
CLASSES = ["foie", "肝臓"]
CASE = "Leber_肝臓"
ESCAPED = "\\u809d\\u81d3"  # 肝臓 as Reporter.write escapes it
PIPE_CLOSED = 128 + 13


def _run(argv, env, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "SDSegLogic", *argv], cwd=REPO, env=env, capture_output=True,
                          timeout=300, **kwargs)


def _quiet(stderr: str) -> None:
    for noise in ("Traceback", "Exception ignored", "Error", "error:"):
        assert noise not in stderr, stderr


@pytest.fixture()
def env(tmp_path) -> dict:
    registry = write_registry(tmp_path / "reg" / "models.json", [entry(title=TITLE, classes=CLASSES)])
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "SDSEG_REGISTRY": str(registry),
            "SDSEG_HOME": str(tmp_path / "home")}


@pytest.fixture()
def cases(tmp_path):
    """Folders pred/ and ref/ holding case Leber_肝臓 (labelmaps with one label that overlap in part)."""
    pred, ref = tmp_path / "pred", tmp_path / "ref"
    pred.mkdir()
    ref.mkdir()
    a = np.zeros((4, 16, 16), np.uint8)
    a[1:3, 4:10, 4:10] = 1
    b = np.zeros_like(a)
    b[1:3, 5:11, 4:10] = 1
    sitk.WriteImage(sitk.GetImageFromArray(a), str(pred / f"{CASE}.nrrd"))
    sitk.WriteImage(sitk.GetImageFromArray(b), str(ref / f"{CASE}.nii.gz"))
    return pred, ref


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_models_list_and_info_escape_what_the_console_cannot_spell(env, encoding):
    for argv in (["models", "list"], ["models", "info", "tiny-test"]):
        done = _run(argv, {**env, "PYTHONIOENCODING": encoding})
        assert done.returncode == 0, done.stderr.decode(encoding, "replace")
        out = done.stdout.decode(encoding)
        assert "Leber (" + ESCAPED + ")" in out, out  # the title, with what the encoding lacks escaped
        if argv[1] == "info":
            assert "foie, " + ESCAPED in out, out
    listed = _run(["models", "list", "--json"], {**env, "PYTHONIOENCODING": encoding})
    assert json.loads(listed.stdout.decode("ascii"))["models"][0]["title"] == TITLE  # --json: exact, as \u escapes


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_score_escapes_a_file_name_the_console_cannot_spell(cases, env, encoding):
    pred, ref = cases
    for argv in ([str(pred / f"{CASE}.nrrd"), str(ref / f"{CASE}.nii.gz")], [str(pred), str(ref)]):
        done = _run(["score", *argv], {**env, "PYTHONIOENCODING": encoding})
        assert done.returncode == 0, done.stderr.decode(encoding, "replace")
        out = done.stdout.decode(encoding)
        assert f"Leber_{ESCAPED}" in out and "0.833" in out, out  # the case or file name, and its Dice
        as_json = _run(["score", *argv, "--json"], {**env, "PYTHONIOENCODING": encoding})
        assert CASE in json.dumps(json.loads(as_json.stdout.decode("ascii")), ensure_ascii=False)


@pytest.mark.skipif(os.name != "posix", reason="a process started without stdout, as a POSIX shell's >&- does")
@pytest.mark.parametrize("argv", [["score", "PRED", "REF"], ["score", "PRED", "REF", "--json"],
                                  ["models", "list"], ["models", "info", "tiny-test"], ["--version"]])
def test_a_command_started_without_stdout_ends_quietly(cases, env, argv, tmp_path):
    """``sdseg score a b -o report.csv >&-``: the report file is still written, nothing crashes."""
    pred, ref = cases
    argv = [{"PRED": str(pred), "REF": str(ref)}.get(a, a) for a in argv]
    report = tmp_path / "report.csv"
    if argv[0] == "score":
        argv += ["-o", str(report)]
    done = subprocess.run([sys.executable, "-m", "SDSegLogic", *argv], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=300, close_fds=True,
                          preexec_fn=lambda: os.close(1))
    assert done.returncode == 0, done.stderr
    _quiet(done.stderr)
    if argv[0] == "score":
        assert CASE in report.read_text(encoding="utf-8")


@pytest.mark.skipif(os.name != "posix", reason="a pipe closed by its reader, as on POSIX systems")
def test_score_into_a_reader_that_left_ends_quietly(cases, env):
    pred, ref = cases
    proc = subprocess.Popen([sys.executable, "-m", "SDSegLogic", "score", str(pred), str(ref)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # as head does: every write meets a closed pipe
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == PIPE_CLOSED, err
    _quiet(err)


@pytest.mark.parametrize("argv", [["models", "list"], ["models", "info", "tiny-test"], ["info"], ["score", "PRED", "REF"]])
def test_json_given_before_the_command_is_json(cases, env, argv):
    """``sdseg --json COMMAND`` (the top-level help offers --json) prints the same JSON as ``sdseg COMMAND --json``."""
    pred, ref = cases
    argv = [{"PRED": str(pred), "REF": str(ref)}.get(a, a) for a in argv]
    before, after = _run(["--json", *argv], env, text=True), _run([*argv, "--json"], env, text=True)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert set(json.loads(before.stdout)) == set(json.loads(after.stdout))
