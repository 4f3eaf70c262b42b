"""``sdseg segment`` started with SIGINT ignored (a background job ``sdseg segment ... &`` of a script) keeps ignoring it.

A shell without job control starts a background command with SIGINT ignored, so that a Ctrl-C meant
for the script's foreground command does not stop it. ``CancelFlag`` set its own handler whatever was
there: such a Ctrl-C cancelled the background run (exit code 5, nothing written). The engine already
keeps an ignored SIGINT ignored (:func:`SDSegLogic.server.engine_signals.stop_on_signals`).

The run is held deterministically while it loads its model, inside the flag's ``with`` block: the
model folder's ``config.json`` is a named pipe that this test fills only after the signal was sent.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, isolated_home, tiny_folder  # noqa: F401 (fixtures)
from engine_load_helpers import open_writer_when_read, reap

REPO = Path(__file__).resolve().parents[2]
IGNORING_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                   "os.execv(sys.executable, [sys.executable] + sys.argv[1:])")  # as "cmd &" in a script: exec keeps SIG_IGN
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (POSIX)")


def test_an_ignored_sigint_does_not_cancel_the_run(tiny_folder, crop, tmp_path):
    held = tmp_path / "held-model"
    shutil.copytree(tiny_folder, held)
    config = (held / "config.json").read_bytes()
    (held / "config.json").unlink()
    os.mkfifo(held / "config.json")
    output = tmp_path / "out.seg.nrrd"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, "-c", IGNORING_SIGINT, "-m", "SDSegLogic", "segment", str(crop), "-o", str(output),
                                "--model", str(held), "--device", "cpu"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, cwd=str(tmp_path), env=env)
    try:
        writer = open_writer_when_read(held / "config.json", process)  # the run reads its model: inside CancelFlag
        process.send_signal(signal.SIGINT)
        try:
            os.set_blocking(writer, True)
            os.write(writer, config)
        finally:
            os.close(writer)
        said = process.communicate(timeout=300)[0].decode("utf-8", "replace")  # read while waiting: a full pipe cannot stall it
        code = process.returncode
    finally:
        reap(process)
    assert code == 0, f"exit code {code}:\n{said}"
    assert output.is_file() and "cancelled" not in said, said
