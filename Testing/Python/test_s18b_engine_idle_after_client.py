"""``--idle-timeout`` counts from when the last client left, not from its last request.

The idle clock was set by accepts and requests only. A client that stayed connected without
sending anything for longer than the idle timeout (a 3D Slicer session between two runs) kept
the engine busy, but once it disconnected the engine exited within 0.2 s: "exit after this many
seconds without a client" held for no second at all, and a client reconnecting a moment later
found the engine gone. A real engine process (tiny random-weight model) with ``--idle-timeout 5``;
the check is a lower bound that a correct engine meets however slow the machine is.
"""

from __future__ import annotations

import time

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from SDSegLogic.server.process import EngineProcess

IDLE_S = 5.0


def test_the_idle_timeout_starts_when_the_last_client_disconnects(model_folder):
    with EngineProcess.start(model_folder, device="cpu", ready_timeout=300,
                             extra_args=["--idle-timeout", str(IDLE_S), "--no-warmup", "--threads", "1"]) as engine:
        client = engine.client()
        assert client.ping()["type"] == "pong"
        time.sleep(IDLE_S + 1.0)  # connected and silent for longer than the idle timeout
        assert engine.alive()  # a connected client keeps the engine
        left = time.monotonic()
        client.close()
        code = engine.wait(60)
        gone = time.monotonic()
        assert code == 0, engine.log_tail()
        assert gone - left >= IDLE_S, f"the engine exited {gone - left:.2f} s after its last client left:\n{engine.log_tail()}"
        assert "idle timeout" in engine.log_tail()
