"""A second Ctrl-C between the engine's ``ready`` line and its serve loop is one line and exit code 0.

The serving signal handlers are installed before ``ready`` is written: from then on a first Ctrl-C
stops the server and a second raises ``KeyboardInterrupt`` ("stop waiting"). ``main`` turned that
into one line only inside the serve loop; raised while the ``ready`` line was being written (a
parent slow to read the pipe), while stdout was routed to stderr or while the "ready on" line was
logged, it escaped ``main`` as a traceback (exit status -2), against PROTOCOL.md ("Startup
contract": 0 after Ctrl-C).

Held there deterministically, without test hooks: the engine's stdout is a real pipe that the test
filled beforehand, so writing the ``ready`` line blocks in ``write(1, ...)``; Linux's
``/proc/PID/syscall`` tells when it does, and the main thread's voluntary context switches tell
when it woke up for the first Ctrl-C (its handler runs before the write is retried) and blocked
again. Linux only.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine_fixtures import make_tiny_model, wait_until

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s20a-ctrl-c-before-serving-" + "k" * 32
ENGINE = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when the tests run in the background
from SDSegLogic.server.__main__ import main
sys.exit(main(sys.argv[1:]))
"""
pytestmark = pytest.mark.skipif(not Path("/proc/self/syscall").is_file() or not sys.platform.startswith("linux"),
                                reason="needs Linux's /proc/PID/syscall to see the engine blocked writing stdout")


def _full_pipe():
    """A pipe whose buffer is full: (read end, write end); the write end blocks on the next write."""
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(write_end, fcntl.F_GETFL)
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while True:
            os.write(write_end, b"x" * 4096)  # whole pages: a short ready line then needs a page of its own
    except BlockingIOError:
        pass
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags)  # the engine's writes block (the flag is the pipe's, shared)
    return read_end, write_end


def _blocked_writing_stdout(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == "1" and int(fields[1], 16) == 1  # write(1, ...) on x86-64


def _switches(pid: int) -> int:
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/task/{pid}/status has no voluntary_ctxt_switches")


def test_a_second_ctrl_c_while_the_ready_line_is_written_is_one_line_and_exit_code_0(tmp_path):
    if os.uname().machine != "x86_64":
        pytest.skip("reads the x86-64 syscall number of write from /proc/PID/syscall")
    model = make_tiny_model(tmp_path / "tiny-ready-ctrl-c")
    log = tmp_path / "engine.log"
    env = {**os.environ, "S20A_TOKEN": TOKEN, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    read_end, write_end = _full_pipe()
    with open(log, "wb") as stderr:
        engine = subprocess.Popen([sys.executable, "-c", ENGINE, "--model", str(model), "--device", "cpu", "--token-env",
                                   "S20A_TOKEN", "--threads", "1", "--no-warmup", "--compile", "off"],
                                  stdin=subprocess.DEVNULL, stdout=write_end, stderr=stderr, env=env, cwd=str(tmp_path))
    os.close(write_end)
    try:
        wait_until(lambda: _blocked_writing_stdout(engine.pid) or engine.poll() is not None, timeout=120.0,
                   what="the engine writing its ready line into the full pipe")
        assert engine.poll() is None, log.read_text()
        before = _switches(engine.pid)
        engine.send_signal(signal.SIGINT)  # the first: stop the server (its handler runs, the write is retried)
        wait_until(lambda: _switches(engine.pid) > before and _blocked_writing_stdout(engine.pid), timeout=60.0,
                   what="the engine handling the first Ctrl-C and writing again")
        engine.send_signal(signal.SIGINT)  # the second: "stop waiting"
        wait_until(lambda: "KeyboardInterrupt" in log.read_text() or "interrupted again" in log.read_text(), timeout=60.0,
                   what="the engine reporting the second Ctrl-C")
        with os.fdopen(read_end, "rb") as pipe:  # now drain stdout: the exit may still flush the ready line
            read_end = -1
            pipe.read()
        code = engine.wait(60)
    finally:
        if read_end >= 0:
            os.close(read_end)
        if engine.poll() is None:
            engine.kill()
            engine.wait(30)
    err = log.read_text()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]  # before: a traceback, exit status -2
    assert code == 0, f"exit status {code}: {err[-3000:]}"
    said = [line for line in err.splitlines() if line.startswith("sdseg-engine: ")]
    assert len(said) == 1 and "Ctrl-C" in said[0], err[-3000:]
