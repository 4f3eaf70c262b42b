"""A refused engine URL is quoted without the password or token typed into it.

``parse_engine_url`` ignores a userinfo (``sdseg://alice:pw@gpu:5000``) and a query
(``?token=...``), so people put secrets there; when the URL is refused (no port, another scheme),
its error message is shown in dialogs, logs and bug reports. The message must still name the
host and the expected form, and must not contain the secret.
"""

from __future__ import annotations

import pytest

from SDSegLogic.errors import SDSegError
from SDSegLogic.redact import REDACTED, redact_url
from SDSegLogic.server.client import EngineClient, parse_engine_url

SECRET = "s3cret-pw"


@pytest.mark.parametrize("url", [
    f"sdseg://alice:{SECRET}@gpu-server",                 # no port
    f"http://alice:{SECRET}@gpu-server:5000",             # another scheme
    f"alice:{SECRET}@gpu-server",                         # no scheme, no port
    f"sdseg://gpu-server?token={SECRET}",                 # a token as a query value
    f"sdseg://gpu-server:99999?x=1&token={SECRET}",       # a port out of range
    f"tcp://{SECRET}@gpu-server:http",                    # a token as the userinfo, a port that is no number
    f"sdseg://alice:{SECRET}#1@gpu-server:5000",          # a password holding '#', which ends the authority
    f"sdseg://alice:pa/{SECRET}@gpu-server",              # ... or '/'
])
def test_a_refused_url_is_quoted_without_its_secret(url):
    for parse in (parse_engine_url, lambda text: EngineClient.from_url(text, token="t" * 32)):
        with pytest.raises(SDSegError) as caught:
            parse(url)
        message = str(caught.value)
        assert SECRET not in message, message
        assert "gpu-server" in message and REDACTED in message and "sdseg://127.0.0.1:50123" in message


def test_a_url_with_a_userinfo_and_a_query_still_connects_to_its_host():
    assert parse_engine_url(f"sdseg://alice:{SECRET}@gpu-server:5000?token={SECRET}") == ("gpu-server", 5000)


@pytest.mark.parametrize("url", ["sdseg://127.0.0.1:50123", "gpu-server:5000", "sdseg://[::1]:5000", "tcp://h:1", ""])
def test_a_url_without_secrets_is_shown_as_it_is(url):
    assert redact_url(url) == url
