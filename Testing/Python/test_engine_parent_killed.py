"""An engine whose parent is killed (SIGKILL: no ``stop()``) leaves no private directory (token, log) behind.

Real processes: a small parent script starts the engine with :class:`EngineProcess` (the tiny random-weight model of
engine_fixtures.py) and is then killed; every wait has a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine_fixtures import make_tiny_model, wait_until

REPO = Path(__file__).resolve().parents[2]
PARENT = """
import sys, time
from SDSegLogic.server.client import EngineProcess
engine = EngineProcess.start(sys.argv[1], "cpu", extra_args=["--threads", "1"])
print(engine.token_dir, engine.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-parent")


def _start_parent(tmp_path: Path, model_folder: Path, stdout=subprocess.PIPE) -> subprocess.Popen:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, str(script), str(model_folder)], stdout=stdout, text=True, env=env, cwd=str(tmp_path))


def _gone(pid: int) -> bool:
    """The process exited (a zombie nobody reaped counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to see the orphaned engine exit")
def test_an_engine_whose_parent_was_killed_deletes_its_token_directory(tmp_path, model_folder):
    """Slicer killed (or crashed) while its engine runs: the engine exited, but its private directory with the
    token file and engine.log stayed in the temp folder for ever, since only the parent's stop() removed it."""
    parent = _start_parent(tmp_path, model_folder)
    try:
        line = parent.stdout.readline().split()
        assert len(line) == 2, f"the parent did not start the engine: {line}"
        token_dir, engine_pid = Path(line[0]), int(line[1])
        assert (token_dir / "token").is_file()
    finally:
        parent.kill()
        parent.wait(30)
        parent.stdout.close()
    wait_until(lambda: _gone(engine_pid), 60, "the orphaned engine exits")
    wait_until(lambda: not token_dir.exists(), 30, f"the private directory {token_dir} is removed")


def test_an_engine_whose_parent_was_killed_while_it_loaded_deletes_its_token_directory(tmp_path, model_folder):
    """The parent dies before the engine is ready: writing the ``ready`` line then failed with a
    BrokenPipeError traceback (exit code 1) and the private directory stayed behind."""
    parent = _start_parent(tmp_path, model_folder, stdout=subprocess.DEVNULL)
    tmp = tmp_path / "tmp"
    try:
        wait_until(lambda: any((d / "token").is_file() for d in tmp.glob("sdseg-engine-*")) or parent.poll() is not None, 60,
                   "the parent creates the engine's private directory")
    finally:
        parent.kill()  # the engine is still importing torch and loading: it cannot be ready yet
        parent.wait(30)
    assert list(tmp.glob("sdseg-engine-*")), "no private directory was made"
    wait_until(lambda: not list(tmp.glob("sdseg-engine-*")), 90, "the engine removes its private directory")


def test_a_private_dir_that_does_not_hold_the_token_file_is_refused(tmp_path):
    """--private-dir deletes files: it is refused (exit 2) unless it is the folder of the --token-file."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "engine.log").write_text("keep me\n")
    result = subprocess.run([sys.executable, "-m", "SDSegLogic.server", "--model", "x", "--token-file", str(tmp_path / "token"),
                             "--private-dir", str(other)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--private-dir" in result.stderr and "--token-file" in result.stderr, result.stderr
    assert (other / "engine.log").read_text() == "keep me\n"


def test_the_launcher_module_imports_on_its_own():
    """``from SDSegLogic.server.process import EngineProcess`` (the module that defines it) used to fail with a
    circular ImportError unless SDSegLogic.server.client had been imported first."""
    for module in ("SDSegLogic.server.process", "SDSegLogic.server.__main__"):
        result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert result.returncode == 0, f"import {module} failed: {result.stderr[-2000:]}"
