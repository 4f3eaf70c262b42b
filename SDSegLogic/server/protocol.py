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
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..errors import GeometryError, InputError, SDSegError
from ..geometry import ImageGeometry

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
    """A decoded frame: the JSON header and its arrays (read-only views into the body)."""

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
        buffers.append(memoryview(a).cast("B"))
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
    """Encode and send one frame (the caller serialises concurrent senders)."""
    for chunk in encode_frame(header, arrays):
        sock.sendall(chunk)


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], min(n - got, 1 << 22))
        if k == 0:
            raise ConnectionError(f"peer closed the connection after {got} of {n} bytes")
        got += k
    return buf


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


def _parse_arrays(header: Dict[str, Any], body: bytearray) -> Dict[str, np.ndarray]:
    specs = header.get("arrays", [])
    if not isinstance(specs, list):
        raise ProtocolError("malformed_header", "'arrays' must be a list of {name, dtype, shape, offset, nbytes}.")
    arrays: Dict[str, np.ndarray] = {}
    for spec in specs:
        try:
            name, dtype, shape = str(spec["name"]), str(spec["dtype"]), [int(n) for n in spec["shape"]]
            offset, nbytes = int(spec["offset"]), int(spec["nbytes"])
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("malformed_header", f"array description {spec!r} needs name, dtype, shape, offset, nbytes.", fatal=False) from None
        if dtype not in ALLOWED_DTYPES:
            raise ProtocolError("bad_dtype", f"array {name!r}: dtype {dtype!r} is not one of {', '.join(ALLOWED_DTYPES)}.", fatal=False)
        dt = np.dtype(dtype).newbyteorder("<")
        if any(n < 0 for n in shape) or int(np.prod(shape, dtype=np.int64)) * dt.itemsize != nbytes:
            raise ProtocolError("bad_shape", f"array {name!r}: shape {shape} of {dtype} does not take {nbytes} bytes.", fatal=False)
        if offset < 0 or offset + nbytes > len(body):
            raise ProtocolError("bad_shape", f"array {name!r}: bytes {offset}..{offset + nbytes} lie outside the {len(body)}-byte body.", fatal=False)
        arrays[name] = np.frombuffer(body, dtype=dt, count=nbytes // dt.itemsize, offset=offset).reshape(shape)
    return arrays


def recv_frame(sock: socket.socket, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
               max_body_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> Frame:
    """Read one frame, enforcing the limits before reading the header and body.

    Raises:
        ProtocolError: see :func:`recv_prefix`; ``malformed_header`` for invalid JSON or a
            missing ``type``; ``bad_dtype``/``bad_shape`` for inconsistent array descriptions.
        ConnectionError: the peer closed the connection.
    """
    hlen, blen = recv_prefix(sock, max_header_bytes, max_body_bytes)
    raw = _recv_exact(sock, hlen)
    body = _recv_exact(sock, blen) if blen else bytearray()
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("malformed_header", f"header is not UTF-8 JSON ({exc}).", fatal=False) from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolError("malformed_header", "header must be a JSON object with a string 'type'.", fatal=False)
    return Frame(header, _parse_arrays(header, body))


# ---------------------------------------------------------------------- geometry on the wire
def geometry_to_json(geometry: ImageGeometry) -> Dict[str, Any]:
    """ImageGeometry -> JSON object (LPS; spacing/origin/shape in i, j, k order; direction rows)."""
    return {
        "frame": "LPS",
        "spacing": list(geometry.spacing),
        "origin": list(geometry.origin),
        "direction": [list(row) for row in geometry.direction],
        "shape": list(geometry.shape),
    }


def geometry_from_json(data: Any) -> ImageGeometry:
    """Inverse of :func:`geometry_to_json`; raises GeometryError naming the bad field."""
    if not isinstance(data, dict):
        raise GeometryError(f"geometry must be an object with spacing, origin, direction, shape; got {type(data).__name__}.")
    if data.get("frame", "LPS") != "LPS":
        raise GeometryError(f"geometry frame {data.get('frame')!r} is not supported; convert to LPS (negate x and y of RAS).")
    try:
        return ImageGeometry(
            spacing=tuple(data["spacing"]), origin=tuple(data["origin"]),
            direction=tuple(tuple(r) for r in data["direction"]), shape=tuple(data["shape"]),
        )
    except GeometryError:
        raise
    except KeyError as exc:
        raise GeometryError(f"geometry is missing {exc.args[0]!r}; it needs spacing, origin, direction and shape.") from None
    except (TypeError, ValueError) as exc:
        raise GeometryError(f"geometry has a malformed field ({exc}).") from None
