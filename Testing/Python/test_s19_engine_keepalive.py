"""The engine has the system probe its idle client connections (TCP keepalive).

Idle connections have no time limit; a remote client whose network dropped without a close (a laptop asleep,
an expired NAT entry) kept its connection, and one of the engine's few connection slots, for ever. A real
network drop cannot be made here, so the test reads the options of the engine's own socket of a real
connection (an in-process engine, a real TCP client).
"""

from __future__ import annotations

import socket

from engine_fixtures import serving_engine, wait_until
from SDSegLogic.server.client import EngineClient

TOKEN = "t" * 32


def test_an_accepted_connection_is_kept_alive_by_probes():
    with serving_engine(None, TOKEN, segment_fn=lambda *a, **k: None) as engine:
        client = EngineClient("127.0.0.1", engine.port, TOKEN, timeout=30.0).connect()
        try:
            wait_until(lambda: engine._connections, what="the engine's side of the connection")
            sock = next(iter(engine._connections.values())).sock
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
            if hasattr(socket, "TCP_KEEPIDLE"):
                from SDSegLogic.server.connection import KEEPALIVE_IDLE_S

                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE_S
        finally:
            client.close()
