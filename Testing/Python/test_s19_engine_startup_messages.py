"""The engine's start-up: a socket it cannot open is reported by the address tried, and SIGTERM before the load is one line.

* ``--host "" --allow-remote`` listens on every IPv4 address. When its port was taken, the engine said
  ``cannot listen on :5000`` (the host as typed, empty) and, for any failure, "choose another --port",
  also for an address that is not this machine's, where another port cannot help. The message now
  names the address tried (``0.0.0.0:5000``) and the remedy for the cause.
* SIGTERM while the engine waits for ``--token-stdin`` (before its model load) took the signal's default
  action: exit code 143 (-15 from Popen), no message; Ctrl-C there raised a ``KeyboardInterrupt``
  traceback. During the model load both already gave one line and exit code 0 (PROTOCOL.md, "Startup
  contract"); now they do from the first line of ``main``. The wait is held deterministically: the
  engine's stdin is a pipe this test never writes to, and the signal goes once the kernel says the
  engine's main thread sleeps reading a pipe (``/proc/<pid>/wchan``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from SDSegLogic.server.__main__ import main
from engine_load_helpers import reap, signal_and_wait

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s19-startup-" + "s" * 32
# SIGINT back to its default in the engine, even when this test runs where it is ignored (a background job)
LAUNCH = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, sys.argv[1:])"


def test_a_taken_port_on_every_address_names_the_address_tried(monkeypatch, capsys):
    monkeypatch.setenv("S19_ENGINE_TOKEN", TOKEN)
    holder = socket.create_server(("", 0))  # every IPv4 address, as --host "" asks for
    try:
        port = holder.getsockname()[1]
        code = main(["--model", "not-loaded", "--token-env", "S19_ENGINE_TOKEN", "--host", "", "--allow-remote",
                     "--port", str(port)])
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert code == 4, err
    assert f"cannot listen on 0.0.0.0:{port}" in err, err
    assert f"cannot listen on :{port}" not in err and "another --port" in err, err


def test_an_address_of_another_machine_is_not_told_to_change_the_port(monkeypatch, capsys):
    monkeypatch.setenv("S19_ENGINE_TOKEN", TOKEN)
    foreign = "192.0.2.7"  # TEST-NET-1 (RFC 5737): never an address of this machine
    code = main(["--model", "not-loaded", "--token-env", "S19_ENGINE_TOKEN", "--host", foreign, "--allow-remote", "--port", "0"])
    err = capsys.readouterr().err
    if code != 4:
        pytest.skip(f"{foreign} could be bound here: {err}")
    assert f"cannot listen on {foreign}:0" in err, err
    assert "not an address of this machine" in err and "another --port" not in err, err


def _waits_reading_a_pipe(pid: int) -> bool:
    try:
        return "pipe_read" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc/<pid>/wchan to see the engine wait")
@pytest.mark.parametrize("signum, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_signal_while_waiting_for_the_token_is_one_line_and_exit_code_0(tmp_path, signum, name):
    command = [sys.executable, "-c", LAUNCH, sys.executable, "-m", "SDSegLogic.server", "--model", "not-loaded",
               "--token-stdin", "--device", "cpu"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    log_path = tmp_path / "engine.log"
    with open(log_path, "wb") as log_handle:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_handle, cwd=str(REPO), env=env)
    try:
        deadline = time.monotonic() + 120
        while not _waits_reading_a_pipe(process.pid):  # the token read: nothing else of the engine reads a pipe
            assert process.poll() is None, f"the engine exited with code {process.returncode} before it read its token"
            assert time.monotonic() < deadline, "the engine never waited for its token on stdin"
            time.sleep(0.05)
        code, stdout = signal_and_wait(process, signum)
    finally:
        reap(process)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert code == 0, f"exit code {code}; log:\n{log}"
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and f"interrupted ({name}) while starting" in lines[0], log
    assert b'"ready"' not in stdout
