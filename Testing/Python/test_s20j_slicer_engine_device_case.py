"""The engine manager keeps its warm engine when the same device comes spelled in another letter case.

:class:`SDSegLib.engine_manager.EngineManager` keyed its engine on the device name letter for
letter: a caller that skips the logic's ``startJob`` normalisation (a script calling
``manager.client``) with ``"CPU"`` after ``"cpu"`` stopped the warm engine and loaded the model
again in a new process. The key now holds the normalised name (stripped, lower case).

Against the real engine process and a real tiny model.
"""

from __future__ import annotations

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path


def test_the_same_device_in_another_spelling_reuses_the_warm_engine(model_folder):
    from SDSegLib.engine_manager import EngineManager

    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1", "--no-warmup"))
    try:
        pids = []
        for device in ("cpu", "CPU", " Cpu "):
            client = engines.client(str(model_folder), device)
            try:
                assert client.ping()["type"] == "pong"
            finally:
                client.close()
            pids.append(engines.process.pid)
        assert pids[0] == pids[1] == pids[2], (pids, logs)
        assert sum(line.startswith("Starting the SDSeg engine") for line in logs) == 1, logs
        assert engines.process.ready.get("device") == "cpu"
    finally:
        engines.close()


def test_another_device_still_restarts_the_engine(model_folder):
    """The key still tells devices apart: ``auto`` after ``cpu`` is another choice (a new process)."""
    from SDSegLib.engine_manager import EngineManager

    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1", "--no-warmup"))
    try:
        pids = []
        for device in ("cpu", "auto"):
            engines.client(str(model_folder), device).close()
            pids.append(engines.process.pid)
        assert pids[0] != pids[1], logs
    finally:
        engines.close()
