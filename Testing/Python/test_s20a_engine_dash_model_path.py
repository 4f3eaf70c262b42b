"""A model folder whose relative path starts with ``-`` starts an engine.

:meth:`EngineProcess.start` passed ``--model`` and its value as two arguments; the engine's
argument parser reads a value that starts with ``-`` as an option, so ``EngineProcess.start("-tiny",
cwd=...)`` (a folder named ``-tiny``, a legal folder name) ended with exit code 2, "argument
--model: expected one argument", instead of loading the folder. The value is now passed as
``--model=VALUE``. A real engine process and a real tiny model.
"""

from __future__ import annotations

import numpy as np

from engine_fixtures import make_tiny_model
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.process import EngineProcess


def test_a_model_folder_named_with_a_leading_dash_is_served(tmp_path):
    make_tiny_model(tmp_path / "-tiny", model_id="tiny-dash")
    with EngineProcess.start("-tiny", "cpu", cwd=tmp_path, extra_args=("--threads", "1", "--no-warmup")) as engine:
        assert engine.ready["model_id"] == "tiny-dash"  # before: EngineDiedError, exit code 2
        client = engine.client(timeout=60.0)
        try:
            out = client.segment(np.zeros((2, 32, 32), np.int16), ImageGeometry((1.0,) * 3, (0.0,) * 3, np.eye(3), (32, 32, 2)))
        finally:
            client.close()
    assert out.labels.shape == (2, 32, 32)
