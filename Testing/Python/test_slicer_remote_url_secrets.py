"""A remote engine URL that carries a secret (``sdseg://user:secret@host:port``, ``?token=...``) never reaches a bug report.

Before, "Copy diagnostics" put the remote URL as typed into the clipboard text meant for a forum
post or an issue, and the engine runner logged it as typed to the panel's status log and to
Python's log, so a password or token written into the URL's userinfo (the engine accepts it:
``parse_engine_url`` ignores the userinfo) was published with them. Now both show the URL with the
userinfo and query values replaced by ``<redacted>``; the host and port stay, as they say which
engine was used. No engine is needed: nothing listens on the address the connection is tried on.
"""

from __future__ import annotations

import socket

import pytest

from slicer_logic_helpers import REPO  # noqa: F401 - puts SDSegLib on sys.path
from SDSegLib.diagnostics import diagnostics_text
from SDSegLib.engine_runner import EngineManager
from SDSegLogic.errors import SDSegError

SECRETS = ("s3cret-pw", "tok-123abc", "p#ss/w?rd")


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("url", ["sdseg://alice:s3cret-pw@gpu-server:5000", "http://alice:s3cret-pw@gpu-server:5000",
                                 "alice:s3cret-pw@gpu-server:5000", "sdseg://gpu-server:5000?token=tok-123abc&x=1",
                                 "tcp://tok-123abc@gpu-server:5000", "sdseg://alice:p#ss/w?rd@gpu-server:5000"])
def test_diagnostics_name_the_remote_engine_without_its_secret(url):
    text = diagnostics_text("SDSeg engine 1.0", "", "m", {}, "", "", remote_url=url)
    assert not any(secret in text for secret in SECRETS), text
    (line,) = [line for line in text.splitlines() if line.startswith("Engine: remote ")]
    assert "gpu-server:5000" in line and "<redacted>" in line  # which engine stays readable


def test_redact_url_keeps_a_url_without_secrets_as_it_is():
    from SDSegLib.diagnostics import redact_url

    for url in ("sdseg://127.0.0.1:50123", "gpu-server:5000", "sdseg://[::1]:5000", ""):
        assert redact_url(url) == url


def test_the_status_log_names_the_remote_engine_without_its_secret():
    logs = []
    engines = EngineManager(log=logs.append)
    url = f"sdseg://alice:s3cret-pw@127.0.0.1:{_closed_port()}"
    with pytest.raises(SDSegError):  # nothing listens there: the connection is refused
        engines.client("any-model", remote_url=url, remote_token="the-engine-token")
    assert any("Connecting to the remote engine" in line and f"127.0.0.1:{url.rsplit(':', 1)[1]}" in line for line in logs), logs
    assert not any("s3cret-pw" in line for line in logs), logs


def test_a_refused_remote_url_is_shown_without_its_secret():
    """A malformed URL is quoted in the error the panel shows in a dialog, the status line and the log."""
    import numpy as np

    from SDSegLib.engine_runner import SegmentationJob
    from SDSegLogic.geometry import ImageGeometry

    image = np.zeros((1, 4, 4), np.int16)
    geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (4, 4, 1))
    url = "sdseg://alice:s3cret-pw@gpu-server"  # no port: refused by the engine client
    job = SegmentationJob(EngineManager(log=lambda line: None), image, geometry, "m", remote_url=url,
                          remote_token="the-engine-token").start()
    (event,) = job.wait(30)
    assert event.kind == "error" and "gpu-server" in event.text and "sdseg://127.0.0.1:50123" in event.text
    assert "s3cret-pw" not in event.text, event.text
