"""The "other machines can reach this engine" warning names the address actually listened on.

It was logged before the socket was bound, from ``--host`` as typed: ``--host "" --allow-remote``
(every IPv4 address) warned ``listening on : other machines can reach this engine`` (no address, no
port, and ``--port 0`` never says which port). It is now logged after the bind, as bound:
``listening on 0.0.0.0:<port>``. A real engine process runs; its model folder does not exist, so it
stops (exit code 3) right after binding and warning.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_remote_warning_names_the_bound_address_and_port(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "SDSEG_S18D_TOKEN": "w" * 40}
    result = subprocess.run([sys.executable, "-m", "SDSegLogic.server", "--model", str(tmp_path / "no-such-model"),
                             "--token-env", "SDSEG_S18D_TOKEN", "--host", "", "--allow-remote", "--port", "0", "--no-warmup"],
                            cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 3, result.stderr[-2000:]
    warning = re.search(r"listening on (\S*): other machines can reach this engine", result.stderr)
    assert warning is not None, result.stderr[-2000:]
    host, _, port = warning.group(1).rpartition(":")
    assert host == "0.0.0.0" and port.isdigit() and int(port) > 0, warning.group(0)
