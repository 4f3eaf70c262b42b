"""Engine process lifecycle and safety: shutdown, the caller's log file, a parent that goes away,
loopback-only binding, private token files, engine URLs, the idle timeout, and start failures
(bad model, port in use, bad port or device, missing interpreter) named with their exit code and
leaving no private directory behind.

Real subprocesses with a real tiny model, as in test_engine_server.py (which covers the protocol
and segmentation).
"""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from engine_fixtures import make_tiny_model
from SDSegLogic.errors import SDSegError
from SDSegLogic.server.client import EngineDiedError, EngineProcess, parse_engine_url

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-test")


def test_shutdown_request_ends_the_process(model_folder):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"])
    token_dir = process.token_dir
    process.client().shutdown()
    assert process.wait(15) == 0
    process.stop()
    assert not token_dir.exists()


def test_a_caller_s_log_file_is_appended_to_and_kept_by_stop(model_folder, tmp_path):
    log = tmp_path / "session.log"
    log.write_text("the previous engine's lines\n")
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"], log_path=log)
    token_dir = process.token_dir
    assert process.log_path == log and not (token_dir / "engine.log").exists()
    process.stop()
    text = log.read_text()
    assert text.startswith("the previous engine's lines\n") and "ready on" in text and "engine stopped" in text
    assert not token_dir.exists() and "engine stopped" in process.log_tail()


def test_engine_exits_when_its_parent_goes_away(model_folder):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"])
    try:
        process.popen.stdin.close()  # what happens when Slicer dies: the pipe closes
        assert process.wait(15) == 0
    finally:
        process.stop()


def test_non_loopback_bind_refused_without_flag(tmp_path):
    token = tmp_path / "token"
    result = subprocess.run([sys.executable, "-m", "SDSegLogic.server", "--model", "x", "--host", "0.0.0.0", "--token-file", str(token)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--allow-remote" in result.stderr


def test_token_file_created_private_and_group_readable_file_refused(tmp_path):
    from SDSegLogic.server.__main__ import build_parser, read_token

    path = tmp_path / "sub" / "token"
    token = read_token(build_parser().parse_args(["--model", "x", "--token-file", str(path)]))
    assert len(token) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_token(build_parser().parse_args(["--model", "x", "--token-file", str(path)])) == token
    path.chmod(0o644)
    with pytest.raises(Exception, match="chmod 600"):
        read_token(build_parser().parse_args(["--model", "x", "--token-file", str(path)]))


def test_engine_url_parsing():
    assert parse_engine_url("sdseg://127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert parse_engine_url("gpu-box:7000") == ("gpu-box", 7000)
    with pytest.raises(Exception, match="sdseg://"):
        parse_engine_url("http://host:80")


def test_idle_timeout_stops_an_unused_engine():
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    server = EngineServer(predictor=None, options=EngineOptions(token="i" * 32, idle_timeout_s=0.5))
    server.bind()
    started = time.monotonic()
    server.serve_forever()  # returns by itself: nobody connected
    assert 0.4 < time.monotonic() - started < 5.0


def test_token_from_environment_variable(monkeypatch):
    from SDSegLogic.server.__main__ import build_parser, read_token

    monkeypatch.setenv("SDSEG_TEST_TOKEN", "e" * 40)
    assert read_token(build_parser().parse_args(["--model", "x", "--token-env", "SDSEG_TEST_TOKEN"])) == "e" * 40
    monkeypatch.setenv("SDSEG_TEST_TOKEN", "")
    with pytest.raises(Exception, match="empty or unset"):
        read_token(build_parser().parse_args(["--model", "x", "--token-env", "SDSEG_TEST_TOKEN"]))


def test_the_idle_clock_starts_when_serving_starts():
    """``__main__`` now binds before the model loads; a long load must not count as idle time."""
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    server = EngineServer(None, EngineOptions(token="i" * 32, idle_timeout_s=0.6))
    server.bind()
    time.sleep(1.0)  # stands for the model load between bind() and serve_forever()
    started = time.monotonic()
    server.serve_forever()  # returns after 0.6 s without a client, not at its first look
    assert time.monotonic() - started >= 0.55


def test_a_failed_start_is_named_and_leaves_no_private_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(EngineDiedError) as caught:
        EngineProcess.start(tmp_path / "no-such-model", "cpu")
    assert "exited with code 3" in str(caught.value) and "no such model folder" in str(caught.value)
    assert not list(tmp_path.glob("sdseg-engine-*")), "token directory left behind"
    with pytest.raises(EngineDiedError) as caught:  # not a bare FileNotFoundError
        EngineProcess.start(tmp_path / "no-such-model", "cpu", python=str(tmp_path / "no-python"))
    assert "cannot start the SDSeg engine" in str(caught.value) and "no-python" in str(caught.value)
    assert not list(tmp_path.glob("sdseg-engine-*")), "token directory left behind"


def test_start_failures_exit_with_the_documented_code_and_remedy(model_folder):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(EngineDiedError) as caught:
            EngineProcess.start(model_folder, "cpu", extra_args=["--port", str(port)])
    assert "exited with code 4" in str(caught.value) and "Choose another --port" in str(caught.value)
    with pytest.raises(EngineDiedError) as caught:
        EngineProcess.start(model_folder, "cpu", extra_args=["--port", "70000"])
    assert "exited with code 2" in str(caught.value) and "port 70000 is not a TCP port" in str(caught.value)
    with pytest.raises(EngineDiedError) as caught:
        EngineProcess.start(model_folder, "no-such-device")
    assert "exited with code 3" in str(caught.value) and "no-such-device" in str(caught.value)


def test_an_engine_url_with_a_bad_port_is_a_clear_error():
    for url in ("sdseg://gpu-box:99999", "sdseg://gpu-box:http", "sdseg://[::1"):
        with pytest.raises(SDSegError, match="sdseg://127.0.0.1:50123"):
            parse_engine_url(url)
