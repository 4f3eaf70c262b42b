"""Shared helpers of the engine-server and Slicer-logic tests: a tiny real model folder and raw frames.

The model is a real SDSeg network (preset ``tiny``: 32x32 slices, random weights) saved with the
lead's :func:`SDSegLogic.model_folder.save_model_folder`, so the engine loads it exactly as it
loads a trained model (config, card, safetensors, sha256 check).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
from pathlib import Path
from typing import Any, Dict, Optional

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
