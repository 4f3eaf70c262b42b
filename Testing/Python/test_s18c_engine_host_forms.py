"""``--host`` in URL form (``[::1]``) is loopback, and a wildcard ``--host`` is reached through loopback.

* ``--host [::1]`` (brackets, as in ``sdseg://[::1]:5000``) was refused as not loopback (exit code 2).
* ``--host 0.0.0.0 --allow-remote`` (or ``::``, or ``""``, which binds every IPv4 address) wrote ``"host": "0.0.0.0"`` in the ready line and
  :class:`EngineProcess` connected to that wildcard, which is where the engine listens, not an address
  to connect to (Windows and macOS refuse it). The ready line now names the loopback address that
  clients on this machine use (``host``) and, apart, the address listened on (``listen_host``).

Real engine processes serve a tiny random-weight model (engine_fixtures.py).
"""

from __future__ import annotations

import socket

import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from SDSegLogic.errors import SDSegError
from SDSegLogic.server.engine import EngineOptions
from SDSegLogic.server.process import EngineProcess

TOKEN = "s18c-host-forms-" + "h" * 32
FAST = ["--no-warmup", "--threads", "1"]


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")


@pytest.mark.parametrize("host", ["[::1]", " [::1] "])
def test_a_bracketed_ipv6_loopback_passes_the_options_check(host):
    options = EngineOptions(token=TOKEN, host=host)
    options.validate()
    assert options.host == "::1"


def test_a_bracketed_name_is_refused_with_the_remedy():
    with pytest.raises(SDSegError, match="without brackets"):
        EngineOptions(token=TOKEN, host="[localhost]").validate()


@needs_ipv6
def test_an_engine_started_with_a_bracketed_host_serves_on_ipv6_loopback(model_folder):
    with EngineProcess.start(model_folder, device="cpu", extra_args=["--host", "[::1]", *FAST]) as engine:
        assert engine.ready["host"] == "::1" and engine.host == "::1"
        with engine.client() as client:
            assert client.ping()["type"] == "pong"


@pytest.mark.parametrize("wildcard, listening, loopback", [
    ("0.0.0.0", "0.0.0.0", "127.0.0.1"), ("", "0.0.0.0", "127.0.0.1"),  # "": every IPv4 address, as for bind()
    pytest.param("::", "::", "::1", marks=needs_ipv6), pytest.param("[::]", "::", "::1", marks=needs_ipv6)])
def test_a_wildcard_engine_is_reached_through_loopback(model_folder, wildcard, listening, loopback):
    with EngineProcess.start(model_folder, device="cpu", extra_args=["--host", wildcard, "--allow-remote", *FAST]) as engine:
        assert engine.ready["listen_host"] == listening
        assert engine.ready["host"] == loopback and engine.host == loopback  # where this machine's clients connect
        with engine.client() as client:
            assert client.ping()["type"] == "pong"
