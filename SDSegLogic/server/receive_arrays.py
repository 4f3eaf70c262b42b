"""Receive a frame straight into one array per described array (the client's replies: large result maps).

:func:`SDSegLogic.server.protocol.recv_frame` reads a body into one buffer and returns views into
it; a caller that wants arrays of its own then copies them, which needs twice the result's memory
at the peak, and a view kept alone (the labels) keeps the whole body (the probabilities too)
alive. :func:`recv_frame_owned` allocates each array first and reads its bytes into it: one copy of
the data at any time, and each array is writable and owns its memory. Used by
:class:`SDSegLogic.server.client.EngineClient`.
"""

from __future__ import annotations

import socket
from typing import List

import numpy as np

from .protocol import Frame, ProtocolError, _parse_arrays, _recv_into, array_layout, discard_body, parse_header, recv_body, recv_head

__all__ = ["recv_frame_owned"]


def _empty(name: str, dtype: np.dtype, shape: list) -> np.ndarray:
    """An uninitialised C-ordered array, or ProtocolError ``out_of_memory``/``bad_shape``."""
    try:
        return np.empty(shape, dtype=dtype)
    except MemoryError:
        raise ProtocolError("out_of_memory", f"cannot allocate array {name!r} of shape {shape}; ask for fewer slices at a time.") from None
    except ValueError as exc:  # e.g. more dimensions than NumPy supports
        raise ProtocolError("bad_shape", f"array {name!r}: shape {shape} is not usable ({exc}).", fatal=False) from None


def recv_frame_owned(sock: socket.socket, max_header_bytes: int, max_body_bytes: int) -> Frame:
    """Read one frame; each of its arrays is received into its own new array (no body buffer, no copy).

    Bytes of the body that no array describes are read and dropped. A body whose arrays overlap
    (no engine sends one) is read whole and each array copied out of it.

    Returns:
        The frame; ``arrays`` maps names to writable arrays that own their memory (little-endian
        dtypes, shapes as described).

    Raises:
        ProtocolError: as :func:`SDSegLogic.server.protocol.recv_frame` (a non-fatal one only once
            the whole body was read, so the stream stays in step).
        ConnectionError: the peer closed the connection.
    """
    raw, blen = recv_head(sock, max_header_bytes, max_body_bytes)
    try:
        header = parse_header(raw)
        layout = array_layout(header, blen)
    except ProtocolError as exc:
        if not exc.fatal:
            discard_body(sock, blen)
        raise
    order = sorted(range(len(layout)), key=lambda index: layout[index][3])  # body order
    ends = [layout[index][3] + layout[index][4] for index in order]
    if any(layout[index][3] < end for index, end in zip(order[1:], ends)):  # overlapping arrays: read the body whole
        return Frame(header, {name: array.copy() for name, array in _parse_arrays(header, recv_body(sock, blen)).items()})
    arrays: List[np.ndarray] = [np.empty(0)] * len(layout)
    position = 0
    for index in order:
        name, dt, shape, offset, nbytes = layout[index]
        discard_body(sock, offset - position)
        try:
            arrays[index] = _empty(name, dt, shape)
        except ProtocolError as exc:
            if not exc.fatal:
                discard_body(sock, blen - offset)
            raise
        if nbytes:
            with memoryview(arrays[index].reshape(-1).view(np.uint8)) as view:  # cast("B") refuses a 0 in the shape
                _recv_into(sock, view)
        position = offset + nbytes
    discard_body(sock, blen - position)
    return Frame(header, {spec[0]: array for spec, array in zip(layout, arrays)})
