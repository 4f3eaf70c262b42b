"""``--threads`` above the machine's CPUs: the engine clamps it (and says so) instead of dying in OpenMP."""

from __future__ import annotations

import os

from engine_fixtures import model_folder  # noqa: F401  (fixture)
from SDSegLogic.server.process import EngineProcess


def test_a_huge_thread_count_is_clamped_and_the_engine_serves(model_folder, tmp_path):  # noqa: F811
    """``--threads 1000000000`` went straight to torch.set_num_threads; the warm-up pass then died
    with "libgomp: Out of memory allocating 216000001344 bytes" and the engine never got ready."""
    log_path = tmp_path / "engine.log"
    engine = EngineProcess.start(model_folder, device="cpu", extra_args=["--threads", str(10**9)], log_path=log_path,
                                 ready_timeout=300.0)
    try:
        with engine.client() as client:
            assert client.welcome.get("type") == "welcome"
        assert engine.alive()
    finally:
        engine.stop()
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    cpus = os.cpu_count() or 1
    assert "--threads 1000000000" in log_text and f"using {cpus}" in log_text, log_text[-2000:]


def test_a_thread_count_within_the_machine_is_kept():
    from SDSegLogic.server.__main__ import usable_threads

    assert usable_threads(1) == 1
    assert usable_threads(os.cpu_count() or 1) == (os.cpu_count() or 1)
