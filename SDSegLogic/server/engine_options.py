"""The engine's limits and binding (:class:`EngineOptions`), checked before anything is opened.

Re-exported by :mod:`SDSegLogic.server.engine`, which is where callers import them from.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass
from typing import Optional

from ..errors import SDSegError
from .protocol import DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_REQUEST_BYTES

__all__ = ["DEFAULT_UPLOAD_FLOOR_S", "DEFAULT_UPLOAD_MIN_BYTES_PER_S", "EngineOptions", "LOOPBACK_HOSTS", "PENDING_PER_CONNECTION", "WILDCARD_CLIENT_HOSTS", "client_address",
           "listen_failure_text", "loopback_address", "unbracketed"]

LOOPBACK_HOSTS = ("127.0.0.1", "::1")
PENDING_PER_CONNECTION = 4  #: connections still authenticating (each for <= auth_timeout_s) per allowed one
LOCALHOST_NAMES = ("localhost", "localhost.")  #: names that always mean this machine (RFC 6761), resolved to an address
MAX_SOCKET_TIMEOUT_S = 1e9  #: largest auth/io timeout (seconds): socket.settimeout refuses from about 9.2e9 (and inf)
DEFAULT_UPLOAD_MIN_BYTES_PER_S = 256 << 10  #: 2 Mbit/s: a 200 MiB volume may take 800 s (a 10 MiB/s link needs 20 s)
DEFAULT_UPLOAD_FLOOR_S = 60.0  #: the least time any request frame is allowed to arrive in
#: the address a client on this machine connects to when the engine listens on every address of a family
WILDCARD_CLIENT_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def unbracketed(host: str) -> str:
    """``host`` without the square brackets of a URL (``[::1]`` -> ``::1``); any other text unchanged.

    Only an IP address inside the brackets loses them: ``--host [::1]`` (as written in
    ``sdseg://[::1]:5000``) used to be refused as "not loopback" and, with ``--allow-remote``,
    could not be bound at all.
    """
    text = str(host).strip()
    if len(text) > 2 and text[0] == "[" and text[-1] == "]":
        try:
            ipaddress.ip_address(text[1:-1])
        except ValueError:
            return text
        return text[1:-1]
    return text


def client_address(host: str) -> str:
    """The address a client on this machine uses to reach an engine listening on ``host``.

    A wildcard address (``0.0.0.0``, ``::``: every interface) is where the engine listens, not an
    address to connect to (Windows and macOS refuse it); its loopback address is. Any other address
    is returned as it is.
    """
    text = unbracketed(host)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:  # a name: it names the same machine for a client here
        return text
    return WILDCARD_CLIENT_HOSTS["0.0.0.0" if address.version == 4 else "::"] if address.is_unspecified else text


def loopback_address(host: str) -> Optional[str]:
    """The loopback address that ``host`` names, or None when it names none.

    A loopback IP literal (``127.0.0.1``, any ``127.x.y.z``, ``::1``) is returned as written;
    ``localhost`` is resolved, preferring IPv4 (``127.0.0.1``) and accepted only when it resolves
    to loopback addresses alone. It used to be refused as "not loopback", although it is.
    """
    text = unbracketed(host)  # "[::1]", as in a URL, is "::1"
    try:
        return text if ipaddress.ip_address(text).is_loopback else None
    except ValueError:
        pass
    if text.lower() not in LOCALHOST_NAMES:
        return None
    try:
        found = [info[4][0] for info in socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError):
        return None
    addresses = [a for a in found if "%" not in a and ipaddress.ip_address(a).is_loopback]
    if not addresses or len(addresses) != len(found):
        return None
    return "127.0.0.1" if "127.0.0.1" in addresses else addresses[0]


#: getaddrinfo's error numbers (a host name that does not resolve): ``socket.create_server`` keeps only the number
_RESOLVE_ERRORS = frozenset(getattr(socket, name) for name in ("EAI_NONAME", "EAI_AGAIN", "EAI_FAIL", "EAI_NODATA", "EAI_ADDRFAMILY")
                            if hasattr(socket, name))


def listen_failure_text(host: str, port: int, exc: BaseException) -> str:
    """Why the engine could not listen on ``host``:``port`` (the address it tried), and the remedy for that cause.

    ``--host ""`` used to be shown as typed (``cannot listen on :5000``), and every failure was told to
    choose another port, also an address that is not this machine's or a name that does not resolve.

    Args:
        host: the address bind tried (``localhost`` already resolved); ``""`` is every IPv4 address.
        port: the port asked for (0: any free one).
        exc: what bind raised (``OSError``, ``socket.gaierror``, ``OverflowError``).
    """
    shown = "0.0.0.0" if host == "" else host
    where = f"[{shown}]:{port}" if ":" in shown else f"{shown}:{port}"
    if host == "":
        where += " (--host \"\": every IPv4 address of this machine)"
    code = getattr(exc, "errno", None)
    if isinstance(exc, socket.gaierror) or code in _RESOLVE_ERRORS:  # create_server re-raises a gaierror as OSError
        remedy = (f"The name {host!r} does not resolve to an address of this machine; give --host an IP address of one of "
                  "its network interfaces (0.0.0.0 for all of them, with --allow-remote) or 127.0.0.1.")
    elif code == errno.EADDRNOTAVAIL:
        remedy = (f"{shown} is not an address of this machine: give --host an IP address of one of its network interfaces "
                  "(0.0.0.0 for all of them, with --allow-remote) or 127.0.0.1.")
    elif code in (errno.EACCES, errno.EPERM):
        remedy = "Ports below 1024 need administrator rights; choose --port 1024 or above (0 picks a free one)."
    else:
        remedy = "Choose another --port (0 picks a free one) or stop the program that uses it."
    return f"cannot listen on {where}: {exc}. {remedy}"


@dataclass(frozen=True)
class EngineOptions:
    """Engine limits and binding.

    Attributes:
        host: bind address; loopback (an address, or ``localhost``: see :func:`loopback_address`)
            unless ``allow_remote``.
        port: 0 picks a free ephemeral port.
        token: the shared secret every connection must present in ``hello``.
        max_request_bytes: largest request body accepted (checked from the frame prefix).
        max_inflight_request_bytes: engine-wide budget for request bodies being received or held
            (by the running job) at once; a body that does not fit is read and dropped and
            answered ``busy`` (reason ``receive_budget``). At least ``max_request_bytes``, so a
            request of the largest size always fits an idle engine; None (the default): twice
            ``max_request_bytes``, so one job's image and one upload of the largest size fit.
        max_header_bytes: largest JSON header accepted.
        max_connections: simultaneous authenticated connections; more are refused with ``busy``
            after their hello (authenticating ones are counted apart).
        auth_timeout_s: a new connection must authenticate within this time.
        idle_timeout_s: exit after this long without any connection (0: never).
        allow_remote: permit a non-loopback ``host`` (the token is required either way).
        io_timeout_s: an authenticated peer that stops for this long in the middle of a frame,
            or stops reading what the engine sends, is disconnected (its job is cancelled).
        upload_min_bytes_per_s: with ``upload_floor_s``, the upload deadline: a request frame
            of n bytes must arrive within ``max(upload_floor_s, n / upload_min_bytes_per_s)``
            seconds of its first byte, else it is answered ``error upload_too_slow`` and the
            connection closed (its budget share given back). Default 256 KiB/s (2 Mbit/s).
        upload_floor_s: the least time any request frame is allowed (default 60 s).
    """

    token: str
    host: str = "127.0.0.1"
    port: int = 0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_connections: int = 8
    auth_timeout_s: float = 10.0
    idle_timeout_s: float = 0.0
    allow_remote: bool = False
    io_timeout_s: float = 60.0
    max_inflight_request_bytes: Optional[int] = None
    upload_min_bytes_per_s: float = DEFAULT_UPLOAD_MIN_BYTES_PER_S
    upload_floor_s: float = DEFAULT_UPLOAD_FLOOR_S

    def __post_init__(self) -> None:
        if isinstance(self.host, str):  # "[::1]" (URL form): the address itself, for the check and for bind()
            object.__setattr__(self, "host", unbracketed(self.host))
        if self.max_inflight_request_bytes is None and isinstance(self.max_request_bytes, int):
            object.__setattr__(self, "max_inflight_request_bytes", 2 * self.max_request_bytes)

    def validate(self) -> None:
        """Raise SDSegError naming the first unusable option and its remedy."""
        if len(self.token) < 16:
            raise SDSegError("engine token is shorter than 16 characters; use secrets.token_urlsafe(32).")
        if not 0 <= self.port <= 65535:
            raise SDSegError(f"port {self.port} is not a TCP port; use 0 (any free port) or 1..65535.")
        for name in ("max_request_bytes", "max_header_bytes", "max_connections", "auth_timeout_s", "io_timeout_s"):
            if not getattr(self, name) > 0:
                raise SDSegError(f"engine option {name}={getattr(self, name)!r} must be > 0.")
        for name in ("upload_min_bytes_per_s", "upload_floor_s"):  # also refuses NaN, inf and booleans
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise SDSegError(f"engine option {name}={value!r} must be a finite number > 0 (the upload deadline is "
                                 f"max(upload_floor_s, bytes / upload_min_bytes_per_s)); leave it unset for the default.")
        for name in ("auth_timeout_s", "io_timeout_s"):  # socket timeouts: inf or 1e10 made every connection fail
            if not getattr(self, name) <= MAX_SOCKET_TIMEOUT_S:
                raise SDSegError(f"engine option {name}={getattr(self, name)!r} is more seconds than a socket timeout takes; "
                                 f"give at most {MAX_SOCKET_TIMEOUT_S:.0f} (a year is 31536000).")
        budget = self.max_inflight_request_bytes
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < self.max_request_bytes:
            raise SDSegError(
                f"engine option max_inflight_request_bytes={budget!r} must be a whole number of bytes >= max_request_bytes "
                f"({self.max_request_bytes}), or a request of the largest accepted size could never be received; "
                f"leave it unset for twice max_request_bytes ({2 * self.max_request_bytes})."
            )
        if not self.idle_timeout_s >= 0:
            raise SDSegError(f"idle timeout {self.idle_timeout_s!r} s must be >= 0 (0: never exit when idle).")
        if not self.allow_remote and loopback_address(self.host) is None:
            brackets = " Write an address without brackets (::1, not [::1])." if self.host.startswith("[") else ""
            raise SDSegError(
                f"refusing to bind {self.host!r}: the engine listens on loopback (127.0.0.1, ::1 or localhost) only. "
                f"Pass --allow-remote to serve other machines (the token is still required).{brackets}"
            )
