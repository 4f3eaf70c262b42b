"""URLs as they may be shown: without the password or token a person may have typed into them.

A remote engine URL such as ``sdseg://alice:password@gpu:5000`` is accepted (the userinfo is
ignored when connecting), and a token may be pasted as ``?token=...``. Messages, logs and bug
reports quote such a URL through :func:`redact_url`, which keeps the scheme, host and port (which
engine was meant) and replaces the userinfo and every query value with :data:`REDACTED`.
Standard library only: the engine, the CLI and the Slicer extension can all use it.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact_url"]

#: What stands in a shown URL for its userinfo (``user:password@``) and its query values.
REDACTED = "<redacted>"
# up to the last "@": a password typed as is may hold "/", "?", "#" or a space, which would otherwise end the authority
_USERINFO = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*://)?).*@")
_QUERY_VALUE = re.compile(r"([?&;][^=&#;]*=)[^&#;]*")


def redact_url(url: str) -> str:
    """``url`` with its userinfo and query values replaced by :data:`REDACTED`.

    Args:
        url: a URL as typed, with or without a scheme (``alice:pw@gpu:5000`` too).

    Returns:
        The URL with ``user:password@`` -> ``<redacted>@`` and ``?token=abc`` -> ``?token=<redacted>``;
        unchanged when it carries neither. Everything before the last ``@`` counts as userinfo, also
        a password holding ``/``, ``?``, ``#`` or a space (``sdseg://alice:p#ss@gpu:5000``): a ``@`` in a query
        value hides the host too, which reveals less, never more.
    """
    text = _USERINFO.sub(lambda match: match.group(1) + REDACTED + "@", str(url))
    return _QUERY_VALUE.sub(lambda match: match.group(1) + REDACTED, text)
