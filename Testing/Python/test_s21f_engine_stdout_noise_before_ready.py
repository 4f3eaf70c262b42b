"""``EngineProcess.start`` finds the ``ready`` line after a library's stdout text that did not end its line.

Before the ``ready`` line, stdout is the engine's own: a library that prints a progress text
without a newline (``print("loading", end="")``, ``\\r`` progress bars) while the engine imports or
loads leaves that text in front of the line, ``loading{"event": "ready", ...}``. The launcher read
each stdout line as a whole JSON text, skipped that one as noise, and waited for a ``ready`` line
that never came: a healthy, serving engine was killed after ``ready_timeout`` (300 s by default)
and reported "not ready". The noise here comes from a ``sitecustomize`` on the engine's
``PYTHONPATH``, the way any imported module prints; the engine itself is unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from SDSegLogic.server.process import EngineProcess

REPO = Path(__file__).resolve().parents[2]
NOISE = {
    "python_print": 'print("loading weights ... 100%", end="")\n',
    "c_level_write": 'import os\nos.write(1, b"\\rprogress 3/3 {not json")\n',  # a C library writing to descriptor 1
}


@pytest.mark.parametrize("kind", sorted(NOISE))
def test_the_ready_line_is_found_after_stdout_text_without_a_newline(model_folder, tmp_path, kind):
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    (noisy / "sitecustomize.py").write_text(NOISE[kind], encoding="utf-8")
    engine = EngineProcess.start(str(model_folder), "cpu", extra_args=["--compile", "off", "--no-warmup", "--threads", "1"],
                                 env={"PYTHONPATH": os.pathsep.join([str(noisy), str(REPO)])}, ready_timeout=120.0)
    try:
        assert engine.ready["event"] == "ready" and engine.ready["port"] == engine.port
        with engine.client() as client:
            assert client.ping() is not None  # the engine it found is the one serving
    finally:
        code = engine.stop()  # stopped (and reaped) whatever failed above; its code checked only after
    assert code == 0
