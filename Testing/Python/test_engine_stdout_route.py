"""The engine routes stdout to stderr after its ``ready`` line, so an unread pipe cannot block it.

The parent (``EngineProcess``) stops reading the engine's stdout once it has the ready line. These
tests run the real routing function in a child process whose stdout is a pipe nobody reads, and
print far more than a pipe holds, from Python and from a C-level write to file descriptor 1.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from Testing.Python.conftest import REPO_ROOT

CHILD = textwrap.dedent(
    """
    import os, sys
    from SDSegLogic.server.__main__ import route_stdout_to_stderr
    sys.stdout.write('{"event": "ready"}\\n')
    sys.stdout.flush()
    route_stdout_to_stderr()
    chunk = "x" * 1023 + "\\n"
    for _ in range(512):  # 512 KiB through print(), far beyond a pipe's 64 KiB
        print(chunk, end="")
    os.write(1, b"fd1-" * 65536)  # 256 KiB straight to file descriptor 1, as a C library would
    sys.stderr.write("child-done\\n")
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="pipe sizes and dup2 semantics checked on POSIX")
def test_output_after_ready_goes_to_the_log_and_never_blocks(tmp_path):
    log_path = tmp_path / "engine.log"
    with open(log_path, "wb") as log_handle:
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=log_handle,
                                 cwd=str(REPO_ROOT))
        first = child.stdout.readline()  # read the ready line only, like EngineProcess, then stop reading
        try:
            code = child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            pytest.fail("the child blocked on stdout after the ready line (nobody reads the pipe)")
        rest = child.stdout.read()
        child.stdout.close()
    assert code == 0
    assert first == b'{"event": "ready"}\n'
    assert rest == b""  # nothing more came through the pipe
    logged = log_path.read_bytes()
    assert logged.count(b"x" * 1023) == 512
    assert logged.count(b"fd1-") == 65536
    assert logged.endswith(b"child-done\n")
