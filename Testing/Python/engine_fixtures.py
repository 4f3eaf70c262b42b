"""Shared helpers of the engine-server and Slicer-logic tests: a tiny real model folder and raw frames.

The model is a real SDSeg network (preset ``tiny``: 32x32 slices, random weights) saved with the
lead's :func:`SDSegLogic.model_folder.save_model_folder`, so the engine loads it exactly as it
loads a trained model (config, card, safetensors, sha256 check).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import struct
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

TOKEN_BYTES = 32
TINY_CLASSES = (
    ("liver", 1, (0.86, 0.45, 0.36), {"category": ("SCT", "123037004", "Anatomical Structure"), "type": ("SCT", "10200004", "Liver")}),
    ("spleen", 2, (0.62, 0.35, 0.71), {"category": ("SCT", "123037004", "Anatomical Structure"), "type": ("SCT", "78961009", "Spleen")}),
)


def make_tiny_model(folder: Path, classes=TINY_CLASSES[:1], model_id: str = "tiny-test") -> Path:
    """Save a random-weight ``tiny`` model with ``classes`` (binary by default) into ``folder``."""
    import torch

    from SDSegLogic.config import preset
    from SDSegLogic.model_card import ModelCard, SegmentClass
    from SDSegLogic.model_folder import save_model_folder
    from SDSegLogic.models.sdseg_model import SDSegModel

    torch.manual_seed(0)
    num_classes = None if len(classes) == 1 else len(classes) + 1
    config = preset("tiny")
    if num_classes is not None:
        config = config.replace(unet=dataclasses.replace(config.unet, num_classes=num_classes))
    card = ModelCard(
        model_id=model_id, version="0.0.1", task="test segmentation", modality="CT", training_size=config.sample_size,
        classes=tuple(SegmentClass(name, value, color, terminology) for name, value, color, terminology in classes),
    )
    return save_model_folder(folder, SDSegModel(config), card, overwrite=True)


def tiny_pipeline(folder: Path):
    """An :class:`~SDSegLogic.pipeline.SDSegPipeline` on CPU of a tiny model saved into ``folder`` (:func:`make_tiny_model`)."""
    from SDSegLogic.pipeline import SDSegPipeline

    return SDSegPipeline.from_pretrained(make_tiny_model(folder), device="cpu")


def tiny_pipeline_fixture(model_name: str, tmp_name: str = "models"):
    """A module-scoped ``pipeline`` fixture: :func:`tiny_pipeline` of a model saved as ``<tmp>/<model_name>``.

    Assign it in a test module: ``pipeline = tiny_pipeline_fixture("tiny-late")``.
    """

    @pytest.fixture(scope="module")
    def pipeline(tmp_path_factory):
        return tiny_pipeline(tmp_path_factory.mktemp(tmp_name) / model_name)

    return pipeline


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A tiny binary model folder (:func:`make_tiny_model`), made once per test module that imports this fixture."""
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-test")


def raw_frame(header: Dict[str, Any], body: bytes = b"", declared_body: Optional[int] = None, magic: bytes = b"SDSG") -> bytes:
    """Build a frame by hand (to send malformed or oversized ones); ``declared_body`` overrides blen."""
    data = json.dumps(header).encode("utf-8")
    blen = len(body) if declared_body is None else declared_body
    return struct.pack("<4sIQ", magic, len(data), blen) + data + body


def read_reply(sock: socket.socket, timeout: float = 5.0) -> Dict[str, Any]:
    """Read one frame's header from a raw socket."""
    from SDSegLogic.server.protocol import recv_frame

    sock.settimeout(timeout)
    return recv_frame(sock, 1 << 20, 1 << 30).header


def authenticated_socket(engine) -> socket.socket:
    """A raw socket to a running engine process, after a successful ``hello``/``welcome``."""
    from SDSegLogic.server.protocol import PROTOCOL_VERSION

    sock = socket.create_connection((engine.host, engine.port), timeout=5)
    sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": engine.token}))
    if read_reply(sock)["type"] != "welcome":
        raise AssertionError("the engine did not welcome a client with its own token")
    return sock


def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``condition()`` every 50 ms; AssertionError naming ``what`` if it is still false after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        time.sleep(0.05)


def process_status(pid: int) -> Dict[str, int]:
    """``VmRSS`` (KiB) and ``Threads`` of a Linux process, from ``/proc/<pid>/status``."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            fields[key] = int(value.split()[0])
    return fields


class FakeEngine:
    """A scripted stand-in for the engine, to put the client in situations a real engine avoids.

    ``answer(index, header, sock)`` is called for every frame received on the ``index``-th
    connection (0-based) and returns the reply header to send, or None to send nothing. The body
    of a frame is handed over unread (``header["_body"]`` is its length) so that ``answer`` can
    read it at its own pace with ``sock``. A ``hello`` for which ``answer`` returns None is
    answered ``welcome``; return ``"silent"`` to leave it unanswered.
    """

    def __init__(self, answer) -> None:
        import threading

        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        import threading

        index = 0
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock, index), daemon=True).start()
            index += 1

    def _serve(self, sock: socket.socket, index: int) -> None:
        from SDSegLogic.server.protocol import PROTOCOL_VERSION, recv_prefix, send_frame

        try:
            while True:
                hlen, blen = recv_prefix(sock, 1 << 20, 1 << 40)
                header = json.loads(_recv_all(sock, hlen))
                header["_body"] = blen
                reply = self.answer(index, header, sock)
                if reply is None and header.get("type") == "hello":
                    reply = {"type": "welcome", "protocol": PROTOCOL_VERSION, "engine_version": "fake", "segment_options": None}
                if reply is not None and reply != "silent":
                    send_frame(sock, reply)
        except (OSError, ValueError):
            return

    def close(self) -> None:
        """Stop accepting (waking the blocked ``accept``, which ``close`` alone does not on Linux) and close all."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self._acceptor.join(10)
        for sock in self.sockets:
            sock.close()


def _recv_all(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


@contextlib.contextmanager
def serving_engine(pipeline, token: str, segment_fn=None) -> Iterator[Any]:
    """A real in-process :class:`~SDSegLogic.server.engine.EngineServer` on a free local port.

    It serves ``pipeline`` from a daemon thread (``segment_fn`` as its volume pipeline when given)
    and is shut down on exit.
    """
    import threading

    from SDSegLogic.server.engine import EngineOptions, EngineServer

    engine = EngineServer(pipeline, EngineOptions(token=token), segment_fn=segment_fn)
    engine.bind()
    serving = threading.Thread(target=engine.serve_forever, daemon=True)
    serving.start()
    try:
        yield engine
    finally:
        engine.shutdown()
        serving.join(15)


@contextlib.contextmanager
def serving_on_port(pipeline, token: str, segment_fn=None, **options) -> Iterator[Tuple[Any, int]]:
    """Like :func:`serving_engine`, with more :class:`EngineOptions` (``options``); yields (engine, its port).

    The serving thread is not joined on exit (the engine is shut down).
    """
    import threading

    from SDSegLogic.server.engine import EngineOptions, EngineServer

    server = EngineServer(pipeline, EngineOptions(token=token, **options), segment_fn=segment_fn)
    port = server.bind()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, port
    finally:
        server.shutdown()
