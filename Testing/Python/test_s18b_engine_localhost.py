"""``--host localhost`` is loopback: the engine serves on the address it names, and ``sdseg://localhost:PORT`` reaches it.

``localhost`` was refused ("refusing to bind 'localhost': the engine listens on loopback
(127.0.0.1) only"; exit code 2) because the check compared the text with ``127.0.0.1`` and
``::1``. A real engine process (tiny random-weight model) is started with ``--host localhost``
and reached through the reference client and an ``sdseg://localhost:PORT`` URL.
"""

from __future__ import annotations

import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from SDSegLogic.errors import SDSegError
from SDSegLogic.server.client import EngineClient
from SDSegLogic.server.engine import EngineOptions
from SDSegLogic.server.process import EngineProcess

TOKEN = "s18b-localhost-" + "l" * 32


def test_an_engine_started_with_host_localhost_serves_on_loopback(model_folder):
    with EngineProcess.start(model_folder, device="cpu", extra_args=["--host", "localhost", "--no-warmup", "--threads", "1"],
                             ready_timeout=300) as engine:
        assert engine.ready["host"] in ("127.0.0.1", "::1")  # the address localhost names, not the name
        with EngineClient.from_url(f"sdseg://localhost:{engine.port}", engine.token) as client:
            assert client.ping()["type"] == "pong"
            assert client.info()["model_card"]["model_id"] == "tiny-test"


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "::1", "127.0.0.2"])
def test_loopback_names_and_addresses_pass_the_options_check(host):
    from SDSegLogic.server.engine_options import loopback_address

    EngineOptions(token=TOKEN, host=host).validate()
    assert loopback_address(host) is not None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "localhost.example.com", "example.invalid"])
def test_other_hosts_still_need_allow_remote(host):
    with pytest.raises(SDSegError, match="--allow-remote"):
        EngineOptions(token=TOKEN, host=host).validate()
    EngineOptions(token=TOKEN, host=host, allow_remote=True).validate()
