"""A failed ``accept`` (the engine process out of file descriptors for a moment) must not end the engine.

A real :class:`~SDSegLogic.server.engine.EngineServer` runs in a child process whose descriptor limit leaves room
for only a few connections (no model is needed to accept and authenticate); raw sockets fill it up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine_fixtures import raw_frame, read_reply, wait_until
from SDSegLogic.server.protocol import PROTOCOL_VERSION

REPO = Path(__file__).resolve().parents[2]
TOKEN = "accept-errors-" + "a" * 32
ENGINE = f"""
import logging, os, resource, sys
from SDSegLogic.server.engine import EngineOptions, EngineServer
logging.basicConfig(level="INFO", stream=sys.stderr)
server = EngineServer(None, EngineOptions(token={TOKEN!r}))
port = server.bind()
room = len(os.listdir("/proc/self/fd")) + 4  # four more descriptors, then accept() fails with EMFILE
resource.setrlimit(resource.RLIMIT_NOFILE, (room, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
print(port, flush=True)
server.serve_forever()
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts the engine's descriptors in /proc")
def test_running_out_of_file_descriptors_for_a_moment_does_not_end_the_engine(tmp_path):
    """A burst of connections beyond the process's descriptor limit made ``accept`` fail with EMFILE once,
    and the accept loop took any OSError for the listener being closed: the engine shut down for good
    (exit code 0, "engine stopped"), a running job ended with ``engine_shutdown``, and every client was
    refused afterwards."""
    log_path = tmp_path / "engine.log"
    with open(log_path, "wb") as log:
        engine = subprocess.Popen([sys.executable, "-c", ENGINE], stdout=subprocess.PIPE, stderr=log, text=True,
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
    burst = []
    try:
        port = int(engine.stdout.readline())
        burst = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(12)]
        wait_until(lambda: "Too many open files" in log_path.read_text() or engine.poll() is not None, 60,
                   "the engine runs out of descriptors")
        for sock in burst:
            sock.close()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
            assert read_reply(sock, 30)["type"] == "welcome"
            sock.sendall(raw_frame({"type": "ping"}))
            assert read_reply(sock, 30)["type"] == "pong"
        assert engine.poll() is None, "the engine exited"
    except ConnectionRefusedError:
        pytest.fail(f"the engine stopped listening; its log:\n{log_path.read_text()[-2000:]}")
    finally:
        for sock in burst:
            sock.close()
        engine.kill()
        engine.wait(30)
        engine.stdout.close()
