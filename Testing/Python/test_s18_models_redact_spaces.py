"""A password typed with a space into an engine URL is redacted like any other.

``parse_engine_url`` accepts ``sdseg://alice:my secret@gpu-server:5000`` (``urlparse`` takes
the space; the userinfo is ignored when connecting), but :func:`SDSegLogic.redact.redact_url`
treated only non-blank characters before the ``@`` as userinfo, so such a URL was shown as typed,
password included, in the refusal message, the Slicer status log and the diagnostics text.
"""

from __future__ import annotations

import pytest

from SDSegLogic.errors import SDSegError
from SDSegLogic.redact import REDACTED, redact_url
from SDSegLogic.server.client_types import parse_engine_url

SECRET = "my s3cret"


@pytest.mark.parametrize("url", [f"sdseg://alice:{SECRET}@gpu-server:5000", f"alice:{SECRET}@gpu-server:5000",
                                 f"tcp://{SECRET}@gpu-server:5000"])
def test_a_password_with_a_space_is_redacted(url):
    assert parse_engine_url(url) == ("gpu-server", 5000)  # the engine accepts the URL
    shown = redact_url(url)
    assert "s3cret" not in shown and "gpu-server:5000" in shown and REDACTED in shown


@pytest.mark.parametrize("url", [f"sdseg://alice:{SECRET}@gpu-server",  # no port
                                 f"sdseg://alice:{SECRET}#x@gpu-server:5000"])  # '#' ends the authority for urlparse
def test_a_refused_url_with_such_a_password_is_quoted_without_it(url):
    with pytest.raises(SDSegError) as caught:
        parse_engine_url(url)
    assert "s3cret" not in str(caught.value) and "gpu-server" in str(caught.value)


@pytest.mark.parametrize("url", ["sdseg://127.0.0.1:50123", "gpu-server:5000", " sdseg://gpu:1 ", ""])
def test_urls_without_secrets_stay_as_they_are(url):
    assert redact_url(url) == url
