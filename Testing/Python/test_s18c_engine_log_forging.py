"""A client's job id cannot forge engine log lines: control characters are escaped in the log, not in replies.

The engine logged ``job_id`` as given. A client that sent ``"7\\n<date> sdseg-engine ERROR ..."`` wrote
a second log line of its own, and an ANSI escape sequence acted on the terminal that shows the
log. A real in-process engine serves a tiny random-weight model; one job succeeds, one fails
(NaN voxels: ``input_error``), so the start, done and failure log lines are all checked.
"""

from __future__ import annotations

import logging
import socket

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, raw_frame, read_reply, serving_engine
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_to_json

TOKEN = "s18c-log-forging-" + "f" * 32
FORGED = "7\n2026-12-07 10:00:00,000 sdseg-engine ERROR forged line\x1b[2J\r\u2028"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _segment_frame(image: np.ndarray, job_id: str) -> bytes:
    k, j, i = image.shape
    geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (i, j, k))
    header = {"type": "segment", "job_id": job_id, "geometry": geometry_to_json(geometry),
              "arrays": [{"name": "image", "dtype": image.dtype.name, "shape": list(image.shape), "offset": 0,
                          "nbytes": image.nbytes}]}
    return raw_frame(header, image.tobytes())


def _last_frame(sock: socket.socket) -> dict:
    while True:
        reply = read_reply(sock, timeout=60)
        if reply["type"] in ("result", "error", "cancelled"):
            return reply


def test_a_forged_job_id_stays_on_one_log_line_and_is_echoed_unchanged(tmp_path, caplog):
    from SDSegLogic.pipeline import SDSegPipeline

    pipeline = SDSegPipeline.from_pretrained(make_tiny_model(tmp_path / "tiny-log"), device="cpu")
    good = np.random.default_rng(0).normal(0, 100, (2, 16, 16)).astype(np.float32)
    bad = good.copy()
    bad[0, 0, 0] = np.nan
    caplog.set_level(logging.INFO, logger="SDSegLogic.server")
    with serving_engine(pipeline, TOKEN) as engine:
        with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as sock:
            sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
            assert read_reply(sock)["type"] == "welcome"
            sock.sendall(_segment_frame(good, FORGED))
            done = _last_frame(sock)
            sock.sendall(_segment_frame(bad, FORGED))
            failed = _last_frame(sock)
    assert done["type"] == "result" and done["job_id"] == FORGED  # replies carry the id as the client sent it
    assert failed["type"] == "error" and failed["code"] == "input_error" and failed["job_id"] == FORGED
    job_lines = [r.getMessage() for r in caplog.records if r.name == "SDSegLogic.server" and "forged line" in r.getMessage()]
    assert len(job_lines) >= 3, job_lines  # started, done; started, failed
    for line in job_lines:
        assert not any(c in line for c in "\n\r\x1b\u2028"), repr(line)
        assert "7\\n2026-12-07" in line and "\\x1b[2J" in line  # still recognisable, escaped


def test_printable_text_is_logged_as_given():
    from SDSegLogic.server.log_text import log_safe

    assert log_safe("job-7 é") == "job-7 é"
    assert log_safe(7) == "7"


def test_a_model_id_with_a_line_break_never_reaches_the_engine_log(tmp_path):
    """A card whose model_id held a line break was served, and its id logged on the ready line.

    The card is now refused where it is read (``test_s20b_card_names_codes_ids``): the engine does not
    start on it, says which card and why, and writes no line of the card's making.
    """
    import json

    from SDSegLogic.server.client_types import EngineDiedError
    from SDSegLogic.server.process import EngineProcess

    folder = make_tiny_model(tmp_path / "tiny-forged-id")
    card_file = folder / "model_card.json"
    card = json.loads(card_file.read_text(encoding="utf-8"))
    card["model_id"] = "tiny\nFORGED sdseg-engine ERROR from a model card"
    card_file.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(EngineDiedError) as caught:
        with EngineProcess.start(folder, device="cpu", extra_args=["--no-warmup", "--threads", "1"]):
            pass
    message = str(caught.value)
    assert "model_card.json" in message and "folder-safe" in message, message
    assert not any(line.startswith("FORGED") for line in message.splitlines()), message
