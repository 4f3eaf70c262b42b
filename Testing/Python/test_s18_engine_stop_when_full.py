"""``EngineProcess.stop()`` stops an engine gracefully even when every connection it allows is taken.

``stop()`` sends ``shutdown`` over a new connection. With the engine's 8 connections in use (eight
clients, e.g. panels and scripts of one Slicer session), that hello is answered ``busy`` and the
request was never sent: ``stop()`` then waited its whole ``timeout`` and killed the engine
(SIGKILL, exit status -9), so its clients saw a lost connection instead of the engine's shutdown.
It now sends SIGTERM, which the engine handles as a ``shutdown`` request (exit code 0). A real
engine process serving the tiny model of engine_fixtures.py.
"""

from __future__ import annotations

import sys

import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from SDSegLogic.server.client import EngineBusyError, EngineProcess

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a hard kill on Windows")]


def test_stop_with_every_connection_taken_is_a_graceful_shutdown(model_folder):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1", "--no-warmup"])
    clients = []
    try:
        while True:  # take every connection the engine allows
            try:
                clients.append(process.client(timeout=30.0))
            except EngineBusyError as exc:
                assert exc.reason == "connections", exc
                break
            assert len(clients) <= 64, "the engine never refused a connection"
        code = process.stop(timeout=60.0)
    finally:
        for client in clients:
            client.close()
        if process.alive():
            process.popen.kill()
            process.popen.wait()
    assert code == 0, f"the engine was killed (exit status {code}) instead of shutting down; log:\n{process.log_tail(30)}"
