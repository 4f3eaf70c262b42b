"""SIGTERM or Ctrl-C while ``python -m SDSegLogic.server`` imports its modules is one line and exit code 0.

The start-up handlers were installed by the first line of ``main``, but ``main`` runs only after the
package and ``__main__`` have imported NumPy and the engine's modules (0.1 s warm, seconds from a cold
disk). A SIGTERM there took the default action (Popen return code -15, no message) and a Ctrl-C was a
``KeyboardInterrupt`` traceback (-2), against PROTOCOL.md ("Startup contract": exit code 0 after
SIGTERM or Ctrl-C, with one line).

The engine is held inside that import deterministically, without changing what it runs: a
``sitecustomize`` on its ``PYTHONPATH`` adds an import finder that, on the first ``import numpy``,
touches a marker file and then waits to open a named pipe that nobody writes. The test signals the
engine once the marker exists. POSIX only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine_fixtures import model_folder, wait_until  # noqa: F401 - model_folder is a pytest fixture (a tiny model folder)

REPO = Path(__file__).resolve().parents[2]
HOLD = '''
import os, sys


class HoldNumpyImport:
    """Holds the first ``import numpy`` until the named pipe $S21F_HOLD_FIFO is opened for writing."""

    held = False

    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and not self.held:
            self.held = True
            open(os.environ["S21F_HOLD_MARK"], "w").close()
            with open(os.environ["S21F_HOLD_FIFO"], "rb") as fifo:
                fifo.read()
        return None  # the import goes on as usual


sys.meta_path.insert(0, HoldNumpyImport())
'''
# as in a terminal: Ctrl-C raises KeyboardInterrupt even when the tests run where SIGINT is ignored (exec keeps SIG_DFL)
LAUNCH = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(signal, "SIGTERM"), reason="named pipes, SIGTERM (POSIX)")


def _release(fifo: Path) -> None:
    """Let a held import go on (nothing happens when nobody waits on the pipe any more)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.mark.parametrize("signum, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_signal_while_the_engine_imports_its_modules_is_one_line_and_exit_code_0(model_folder, tmp_path, signum, name):
    hold = tmp_path / "hold"
    hold.mkdir()
    (hold / "sitecustomize.py").write_text(HOLD, encoding="utf-8")
    fifo, mark, token_dir = tmp_path / "fifo", tmp_path / "mark", tmp_path / "private"
    os.mkfifo(fifo)
    token_dir.mkdir()
    env = {**os.environ, "S21F_HOLD_FIFO": str(fifo), "S21F_HOLD_MARK": str(mark),
           "PYTHONPATH": os.pathsep.join([str(hold), str(REPO), os.environ.get("PYTHONPATH", "")])}
    engine = subprocess.Popen([sys.executable, "-c", LAUNCH, "-m", "SDSegLogic.server", "--model", str(model_folder),
                               "--device", "cpu", "--token-file", str(token_dir / "token"), "--compile", "off", "--no-warmup"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(tmp_path))
    try:
        wait_until(lambda: mark.exists() or engine.poll() is not None, timeout=120, what="the engine importing numpy")
        assert mark.exists(), f"the engine exited ({engine.returncode}) before importing numpy: {engine.stderr.read().decode()}"
        engine.send_signal(signum)
        try:
            stdout, stderr = engine.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # it went on: let the import finish so that it can be stopped
            _release(fifo)
            engine.kill()
            stdout, stderr = engine.communicate()
            pytest.fail(f"{name} while importing did not stop the engine; its log:\n{stderr.decode()}")
    finally:
        if engine.poll() is None:
            _release(fifo)
            engine.kill()
            engine.wait()
    log = stderr.decode("utf-8", "replace")
    assert engine.returncode == 0, f"exit code {engine.returncode}; log:\n{log}"
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1 and f"interrupted ({name})" in lines[0] and "not serving" in lines[0], log
    assert b'"ready"' not in stdout
    assert list(token_dir.iterdir()) == [], "the engine wrote files although it never started"
