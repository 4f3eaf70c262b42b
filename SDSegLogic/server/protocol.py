"""Wire format of the SDSeg engine protocol (see ``PROTOCOL.md`` next to this file).

Every message in either direction is one *frame*::

    magic   4 bytes   b"SDSG"
    hlen    4 bytes   uint32 little-endian: length of the JSON header
    blen    8 bytes   uint64 little-endian: length of the binary body
    header  hlen      UTF-8 JSON object; ``header["type"]`` names the message
    body    blen      raw little-endian array bytes, described by ``header["arrays"]``

``header["arrays"]`` is a list of ``{"name", "dtype", "shape", "offset", "nbytes"}``; arrays are
C-ordered and laid out back to back in the body. Both sizes are checked against the receiver's
limits *before* a single body byte is read, so an oversized request costs the engine nothing.

This module has no dependency beyond NumPy and the standard library; the client and the engine
share it, so the two ends cannot disagree about the format.
"""

from __future__ import annotations

import json
import math
import select
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..errors import InputError, SDSegError
from .wire_values import geometry_from_json, geometry_to_json
from .wire_values import short_repr as _short
from .wire_values import whole_number as _whole_number

__all__ = [
    "PROTOCOL_VERSION",
    "MAGIC",
    "PREFIX",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_MAX_REQUEST_BYTES",
    "ALLOWED_DTYPES",
    "ProtocolError",
    "Frame",
    "encode_frame",
    "send_frame",
    "recv_frame",
    "recv_prefix",
    "recv_head",
    "recv_body",
    "discard_body",
    "parse_header",
    "decode_frame",
    "array_layout",
    "wait_readable",
    "geometry_to_json",
    "geometry_from_json",
]

#: Bumped on any incompatible change of the frame layout or of a message's meaning.
PROTOCOL_VERSION = 1
MAGIC = b"SDSG"
PREFIX = struct.Struct("<4sIQ")
DEFAULT_MAX_HEADER_BYTES = 1 << 20
DEFAULT_MAX_REQUEST_BYTES = 4 << 30
#: dtypes accepted for arrays on the wire (always little-endian).
ALLOWED_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")
#: Largest piece of a frame given to one ``sendall``. Since Python 3.5 a socket timeout bounds a
#: whole ``sendall``, so sending in pieces makes the timeout catch a peer that stopped reading
#: without cutting off a slow but steady transfer of a large volume.
SEND_PIECE_BYTES = 1 << 20
#: Largest piece asked of one ``recv_into`` (a body is received into one buffer of its declared size).
_RECV_STEP = 1 << 22


class ProtocolError(SDSegError):
    """A frame broke the protocol (bad magic, oversized, malformed header, bad array description).

    Attributes:
        code: short machine-readable reason, sent to the peer in an ``error`` frame.
        fatal: True when the connection cannot be reused (the stream is out of sync).
    """

    def __init__(self, code: str, message: str, fatal: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fatal = fatal


@dataclass
class Frame:
    """A decoded frame: the JSON header and its arrays (views into the body; arrays of their own from ``recv_frame_owned``)."""

    header: Dict[str, Any]
    arrays: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.header.get("type", ""))


def _describe(arrays: Mapping[str, np.ndarray]) -> Tuple[List[dict], List[memoryview], int]:
    specs, buffers, offset = [], [], 0
    for name, array in arrays.items():
        a = np.asarray(array)
        if a.dtype.name not in ALLOWED_DTYPES:
            raise InputError(
                f"array {name!r} has dtype {a.dtype.name}; the protocol carries {', '.join(ALLOWED_DTYPES)}. "
                "Convert it first (e.g. array.astype(np.float32))."
            )
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        specs.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes})
        buffers.append(memoryview(a.reshape(-1).view(np.uint8)))  # zero-copy; cast("B") refuses a 0 in the shape
        offset += a.nbytes
    return specs, buffers, offset


def encode_frame(header: Mapping[str, Any], arrays: Optional[Mapping[str, np.ndarray]] = None) -> List[bytes]:
    """Serialise a message into a list of byte chunks (prefix + header, then one chunk per array).

    Args:
        header: JSON-serialisable mapping with a ``"type"`` key.
        arrays: name -> array; dtype must be one of :data:`ALLOWED_DTYPES`.
    """
    specs, buffers, body_len = _describe(arrays or {})
    head = dict(header)
    if specs:
        head["arrays"] = specs
    data = json.dumps(head, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return [PREFIX.pack(MAGIC, len(data), body_len) + data, *buffers]


def send_frame(sock: socket.socket, header: Mapping[str, Any], arrays: Optional[Mapping[str, np.ndarray]] = None) -> None:
    """Encode and send one frame (the caller serialises concurrent senders).

    The whole frame is encoded before its first byte goes out, so a header that cannot be encoded
    (``ValueError``, e.g. a NaN) leaves the stream untouched. Bytes go out in pieces of at most
    :data:`SEND_PIECE_BYTES`, so a socket timeout limits how long the peer may stop reading.
    """
    for chunk in encode_frame(header, arrays):
        view = memoryview(chunk)
        for start in range(0, len(view), SEND_PIECE_BYTES):
            sock.sendall(view[start:start + SEND_PIECE_BYTES])


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    """Fill ``view`` from ``sock``, at most :data:`_RECV_STEP` bytes per call (the socket timeout bounds each)."""
    got, n = 0, len(view)
    while got < n:
        k = sock.recv_into(view[got:], min(n - got, _RECV_STEP))
        if k == 0:
            raise ConnectionError(f"peer closed the connection after {got} of {n} bytes")
        got += k


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    """Read exactly ``n`` bytes (a prefix or a header, bounded by its limit) into one buffer."""
    buf = bytearray(n)
    with memoryview(buf) as view:
        _recv_into(sock, view)
    return buf


def recv_body(sock: socket.socket, n: int) -> np.ndarray:
    """Read a body of ``n`` bytes, declared by its prefix, into one preallocated uint8 buffer.

    Bytes go straight from the socket into their final place: no buffer grows and none is copied.
    The buffer is not zero-filled, so the operating system commits its pages only as bytes arrive
    (a peer that declares a large body and sends little costs about what it sent); the engine
    also counts the whole ``n`` against its request-body budget before calling this.

    Raises:
        ProtocolError: ``out_of_memory`` (fatal) when no buffer of ``n`` bytes can be had.
        ConnectionError: the peer closed the connection before the last byte.
    """
    try:
        body = np.empty(n, dtype=np.uint8)
    except MemoryError:
        raise ProtocolError("out_of_memory", f"cannot allocate a {n}-byte buffer for the frame body; send fewer slices at a time.") from None
    with memoryview(body) as view:
        _recv_into(sock, view.cast("B"))
    return body


def discard_body(sock: socket.socket, n: int) -> None:
    """Read ``n`` body bytes and drop them, through one buffer of at most :data:`_RECV_STEP` bytes.

    Keeps the stream in step after a body was refused without holding it in memory.
    """
    scratch = memoryview(bytearray(min(n, _RECV_STEP)))
    left = n
    while left > 0:
        k = sock.recv_into(scratch, min(left, len(scratch)))
        if k == 0:
            raise ConnectionError(f"peer closed the connection after {n - left} of {n} bytes")
        left -= k


def wait_readable(sock: socket.socket, timeout: float) -> bool:
    """Wait up to ``timeout`` s until ``sock`` has bytes (or end of file) to read; reads nothing.

    Raises:
        ConnectionError: the socket is already closed.
    """
    if sock.fileno() < 0:
        raise ConnectionError("the connection is closed")
    if hasattr(select, "poll"):  # no FD_SETSIZE limit
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(max(0, int(timeout * 1000))))
    readable, _, _ = select.select([sock], [], [], timeout)
    return bool(readable)


def recv_prefix(sock: socket.socket, max_header_bytes: int, max_body_bytes: int) -> Tuple[int, int]:
    """Read and check the 16-byte prefix; returns (header length, body length).

    Raises:
        ProtocolError: ``bad_magic`` (not an SDSeg frame, e.g. an HTTP request from a browser),
            ``header_too_large`` or ``request_too_large``, decided before any body byte is read.
        ConnectionError: the peer closed the connection.
    """
    magic, hlen, blen = PREFIX.unpack(bytes(_recv_exact(sock, PREFIX.size)))
    if magic != MAGIC:
        raise ProtocolError("bad_magic", f"not an SDSeg frame (starts with {magic!r}); this port speaks the SDSeg engine protocol only.")
    if hlen > max_header_bytes:
        raise ProtocolError("header_too_large", f"header of {hlen} bytes exceeds the limit of {max_header_bytes} bytes.")
    if blen > max_body_bytes:
        raise ProtocolError(
            "request_too_large",
            f"request body of {blen} bytes exceeds this engine's limit of {max_body_bytes} bytes; "
            "send fewer slices at a time (slice range) or start the engine with a larger --max-request-bytes.",
        )
    return hlen, blen


def array_layout(header: Dict[str, Any], body_len: int) -> List[Tuple[str, np.dtype, List[int], int, int]]:
    """The checked ``header["arrays"]`` of a ``body_len``-byte body: ``(name, "<" dtype, shape, offset, nbytes)`` each.

    Raises:
        ProtocolError: ``malformed_header``, ``bad_dtype`` or ``bad_shape`` (not fatal).
    """
    specs = header.get("arrays", [])
    if not isinstance(specs, list):
        raise ProtocolError("malformed_header", "'arrays' must be a list of {name, dtype, shape, offset, nbytes}.")
    layout = []
    for spec in specs:
        try:
            name, dtype, shape = str(spec["name"]), str(spec["dtype"]), [_whole_number(n) for n in spec["shape"]]
            offset, nbytes = _whole_number(spec["offset"]), _whole_number(spec["nbytes"])
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("malformed_header", f"array description {_short(spec)} needs name, dtype, shape (whole numbers), "
                                "offset and nbytes.", fatal=False) from None
        if dtype not in ALLOWED_DTYPES:
            raise ProtocolError("bad_dtype", f"array {name!r}: dtype {dtype!r} is not one of {', '.join(ALLOWED_DTYPES)}.", fatal=False)
        dt = np.dtype(dtype).newbyteorder("<")
        if any(n < 0 for n in shape) or math.prod(shape) * dt.itemsize != nbytes:  # exact: no int64 overflow
            raise ProtocolError("bad_shape", f"array {name!r}: shape {_short(shape)} of {dtype} does not take {nbytes} bytes.", fatal=False)
        if offset < 0 or offset + nbytes > body_len:
            raise ProtocolError("bad_shape", f"array {name!r}: bytes {offset}..{offset + nbytes} lie outside the {body_len}-byte body.", fatal=False)
        layout.append((name, dt, shape, offset, nbytes))
    return layout


def _parse_arrays(header: Dict[str, Any], body: Any) -> Dict[str, np.ndarray]:
    arrays: Dict[str, np.ndarray] = {}
    for name, dt, shape, offset, nbytes in array_layout(header, len(body)):
        try:
            arrays[name] = np.frombuffer(body, dtype=dt, count=nbytes // dt.itemsize, offset=offset).reshape(shape)
        except ValueError as exc:  # e.g. more dimensions than NumPy supports
            raise ProtocolError("bad_shape", f"array {name!r}: shape {_short(shape)} is not usable ({exc}).", fatal=False) from None
    return arrays


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def recv_head(sock: socket.socket, max_header_bytes: int, max_body_bytes: int) -> Tuple[bytearray, int]:
    """Read a frame's prefix and its raw header; returns (header bytes, declared body length).

    The body is left on the socket, for :func:`recv_body` or :func:`discard_body`.

    Raises:
        ProtocolError, ConnectionError: see :func:`recv_prefix`.
    """
    hlen, blen = recv_prefix(sock, max_header_bytes, max_body_bytes)
    return _recv_exact(sock, hlen), blen


def parse_header(raw: bytes) -> Dict[str, Any]:
    """Decode a frame's JSON header.

    Raises:
        ProtocolError: ``malformed_header`` (not fatal: the body was read) for invalid UTF-8 or
            JSON (``NaN`` and ``Infinity`` included), or an object without a string ``type``.
    """
    try:
        header = json.loads(bytes(raw).decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ProtocolError("malformed_header", "header JSON is nested too deeply.", fatal=False) from None
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, NaN/Infinity, too many digits
        raise ProtocolError("malformed_header", f"header is not UTF-8 JSON ({exc}).", fatal=False) from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolError("malformed_header", "header must be a JSON object with a string 'type'.", fatal=False)
    return header


def decode_frame(raw: bytes, body: Any) -> Frame:
    """The :class:`Frame` of a received header and body (arrays are views into ``body``).

    Raises:
        ProtocolError: see :func:`parse_header`; ``bad_dtype``/``bad_shape`` for inconsistent
            array descriptions.
    """
    header = parse_header(raw)
    return Frame(header, _parse_arrays(header, body))


def recv_frame(sock: socket.socket, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
               max_body_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> Frame:
    """Read one frame, enforcing the limits before reading the header and body.

    Raises:
        ProtocolError: see :func:`recv_prefix`, :func:`recv_body` and :func:`decode_frame`.
        ConnectionError: the peer closed the connection.
    """
    raw, blen = recv_head(sock, max_header_bytes, max_body_bytes)
    body = recv_body(sock, blen) if blen else bytearray()
    return decode_frame(raw, body)
