"""Bad engine arguments end ``python -m SDSegLogic.server`` with the documented exit code 2 and a message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_an_unknown_log_level_is_a_bad_argument_not_a_traceback():
    """``--log-level verbose`` used to crash in logging.basicConfig with a ValueError traceback and exit code 1,
    which a launcher reports as an engine crash instead of a bad argument (exit code 2, PROTOCOL.md)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SDSEG_CLI_ARGS_TOKEN": "l" * 40}
    result = subprocess.run([sys.executable, "-m", "SDSegLogic.server", "--model", "x", "--token-env", "SDSEG_CLI_ARGS_TOKEN",
                             "--log-level", "verbose"], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "--log-level" in result.stderr and "INFO" in result.stderr and "Traceback" not in result.stderr


def test_a_log_level_in_any_case_is_accepted():
    from SDSegLogic.server.__main__ import build_parser

    assert build_parser().parse_args(["--model", "x", "--log-level", "debug"]).log_level == "DEBUG"
    assert build_parser().parse_args(["--model", "x"]).log_level == "INFO"
