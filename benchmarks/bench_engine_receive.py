"""Receiving one large frame body: the former growing buffer against the one preallocated buffer.

A sender thread writes one frame with a ``--mib`` MiB body over a local ``socket.socketpair()``
(as :func:`SDSegLogic.server.protocol.send_frame` sends a volume); the receiver reads it with

1. ``old``: the former ``_recv_exact``: a ``bytearray`` that starts at 4 MiB and, each time it is
   full, is extended by a zero-filled ``bytes`` of its own size (at most doubling), copying what it
   holds; copied here verbatim, so both run in the same process and the same run;
2. ``new``: :func:`SDSegLogic.server.protocol.recv_frame`: the prefix gives the body length, and the
   body is received with ``recv_into`` into one ``np.empty`` buffer of that size (no copy, no fill).

Timing runs alternate old/new without tracing; one more run of each under ``tracemalloc`` gives the
peak of traced memory while receiving (the sender's array is allocated before tracing starts).
Host-side only (no GPU): the ratios carry over, absolute times depend on the CPU and the other load.

Usage::

    python benchmarks/bench_engine_receive.py --mib 200 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import platform
import socket
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "benchmarks"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))
from bench_measure import write_result  # noqa: E402
from SDSegLogic.server.protocol import PREFIX, recv_frame, send_frame  # noqa: E402

_OLD_STEP = 1 << 22


def old_recv_exact(sock: socket.socket, n: int) -> bytearray:
    """The former receive (SDSegLogic/server/protocol.py before the preallocated body), verbatim."""
    buf = bytearray(min(n, _OLD_STEP))
    got = 0
    while got < n:
        if got == len(buf):
            buf.extend(bytes(min(n, 2 * got) - got))
        with memoryview(buf) as view:
            k = sock.recv_into(view[got:], min(len(buf) - got, _OLD_STEP))
        if k == 0:
            raise ConnectionError(f"peer closed the connection after {got} of {n} bytes")
        got += k
    return buf


def receive_old(sock: socket.socket) -> int:
    _, hlen, blen = PREFIX.unpack(bytes(old_recv_exact(sock, PREFIX.size)))
    old_recv_exact(sock, hlen)
    return len(old_recv_exact(sock, blen))


def receive_new(sock: socket.socket) -> int:
    return recv_frame(sock, 1 << 20, 1 << 40).arrays["body"].nbytes


def one_run(receive: Callable[[socket.socket], int], payload: np.ndarray, traced: bool) -> Dict[str, float]:
    """Send ``payload`` as one frame through a socketpair and receive it; seconds and traced peak (MiB)."""
    left, right = socket.socketpair()
    with left, right:
        sender = threading.Thread(target=send_frame, args=(left, {"type": "segment"}, {"body": payload}), daemon=True)
        if traced:
            tracemalloc.start()
        start = time.perf_counter()
        sender.start()
        got = receive(right)
        seconds = time.perf_counter() - start
        peak = 0
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        sender.join()
    if got != payload.nbytes:
        raise RuntimeError(f"received {got} of {payload.nbytes} bytes")
    return {"seconds": seconds, "peak_mib": peak / (1 << 20)}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="body size in MiB (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each receive (default 5)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON result")
    args = parser.parse_args(argv)
    payload = np.random.default_rng(0).integers(0, 255, args.mib << 20, dtype=np.uint8)
    ways = {"old": receive_old, "new": receive_new}
    times: Dict[str, List[float]] = {name: [] for name in ways}
    for _ in range(args.repeats):
        for name, receive in ways.items():  # alternating, so drift hits both alike
            times[name].append(one_run(receive, payload, traced=False)["seconds"])
    peaks = {name: one_run(receive, payload, traced=True)["peak_mib"] for name, receive in ways.items()}
    result = {
        "body_mib": args.mib, "repeats": args.repeats, "machine": platform.platform(), "python": platform.python_version(),
        "seconds": times, "median_s": {name: statistics.median(v) for name, v in times.items()},
        "peak_traced_mib": peaks,
    }
    result["time_ratio_old_over_new"] = result["median_s"]["old"] / result["median_s"]["new"]
    result["peak_ratio_old_over_new"] = peaks["old"] / peaks["new"]
    for name in ways:
        print(f"{name}: median {result['median_s'][name]:.3f} s over {args.repeats} runs "
              f"({', '.join(f'{t:.3f}' for t in times[name])}); traced peak {peaks[name]:.0f} MiB for a {args.mib} MiB body")
    print(f"old/new: time x{result['time_ratio_old_over_new']:.2f}, peak memory x{result['peak_ratio_old_over_new']:.2f}")
    write_result(result, args.json, "bench_engine_receive.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
