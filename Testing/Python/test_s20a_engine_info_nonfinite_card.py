"""``info`` answers for a model whose card records a non-finite training metric.

A model card's ``training`` record is free-form; the training package's export writes it with
``json.dumps``, which spells a NaN or infinite float ``NaN``/``Infinity`` (an ``hd95`` test metric of
an empty prediction is infinite), and the card loader reads them back. The engine encodes every frame
with ``allow_nan=False``, so its ``info`` reply (which carries the card) could not be encoded and was
answered ``internal_error`` instead: the Slicer panel asks ``info`` before every run, so no run of such
a model could start. Non-finite numbers in the card now travel as ``null``.

A real in-process engine serves a real tiny model whose card holds such a record.
"""

from __future__ import annotations

import json

import numpy as np

from engine_fixtures import make_tiny_model, serving_on_port
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.pipeline import SDSegPipeline
from SDSegLogic.server.client import EngineClient

TOKEN = "s20a-info-nonfinite-" + "n" * 32


def test_info_of_a_card_with_an_infinite_metric(tmp_path):
    folder = make_tiny_model(tmp_path / "tiny-metrics")
    card_file = folder / "model_card.json"
    card = json.loads(card_file.read_text(encoding="utf-8"))
    card["training"] = {"test_metrics": {"dice": 0.81, "hd95": float("inf"), "assd": float("nan")}, "steps": 10}
    card_file.write_text(json.dumps(card), encoding="utf-8")  # "Infinity", "NaN": as json.dumps writes them
    pipeline = SDSegPipeline.from_pretrained(folder, device="cpu")
    with serving_on_port(pipeline, TOKEN) as (_, port):
        client = EngineClient("127.0.0.1", port, TOKEN, timeout=60.0).connect()
        try:
            info = client.info()  # before: EngineError internal_error "the engine could not encode its reply"
            out = client.segment(np.zeros((2, 32, 32), np.int16), ImageGeometry((1.0,) * 3, (0.0,) * 3, np.eye(3), (32, 32, 2)))
        finally:
            client.close()
    assert info["model_card"]["training"] == {"test_metrics": {"dice": 0.81, "hd95": None, "assd": None}, "steps": 10}
    assert info["model_card"]["model_id"] == card["model_id"]
    assert out.labels.shape == (2, 32, 32)
