"""A killed AOT build's hidden ``.partial.pt2`` file is deleted by the next build; a live build's never is.

Builds here are real: :func:`SDSegLogic.compiled._build_package` exports a tiny linear network and
compiles it with the AOTInductor C++ toolchain (seconds), in a child process that is killed with
SIGKILL, or left to finish, once its partial file appears. The child gets an empty inductor cache,
so it is still compiling then. Files are made to look an hour old with ``os.utime`` (what time would do).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine_fixtures import wait_until
from SDSegLogic.compiled import MIN_ROWS, _build_package

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills a build with SIGKILL")]

BUILD = """
import sys, torch
from pathlib import Path
from SDSegLogic.compiled import MIN_ROWS, _build_package
network = torch.nn.Sequential(torch.nn.Linear(4, 4)).eval()
_build_package(network, [torch.zeros(MIN_ROWS, 4)], Path(sys.argv[1]))
"""


def _start_build(target: Path, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / f"inductor-{target.stem}")}
    return subprocess.Popen([sys.executable, "-c", BUILD, str(target)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _partials(folder: Path) -> set:
    return set(folder.glob(".*.partial.pt2"))


def _age(path: Path, seconds: float = 3600.0) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _partial_of(build: subprocess.Popen, folder: Path, known: set) -> Path:
    """Wait until ``build`` has created its partial file (it then compiles for seconds); returns it."""
    wait_until(lambda: bool(_partials(folder) - known) or build.poll() is not None, 180, "the build creates its partial file")
    new = _partials(folder) - known
    assert build.poll() is None and len(new) == 1, f"the build ended (code {build.poll()}) before it could be caught"
    return new.pop()


def _caught_build(tmp_path: Path, name: str):
    """A build of ``compiled/<name>.pt2`` started in a child and caught compiling: (folder, build, its partial file).

    A build that cannot be caught (it ends first, or the wait fails) is killed before the error goes on.
    """
    folder = tmp_path / "compiled"
    folder.mkdir()
    build = _start_build(folder / f"{name}.pt2", tmp_path)
    try:
        return folder, build, _partial_of(build, folder, set())
    except BaseException:
        if build.poll() is None:
            build.kill()
            build.wait(30)
        raise


def test_a_killed_build_s_partial_file_is_deleted_by_the_next_build(tmp_path):
    folder, killed, left = _caught_build(tmp_path, "killed")
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    assert left.exists() and not (folder / "killed.pt2").exists()
    _age(left)

    _build_package(torch.nn.Sequential(torch.nn.Linear(4, 4)).eval(), [torch.zeros(MIN_ROWS, 4)], folder / "next.pt2")
    assert (folder / "next.pt2").is_file()
    assert _partials(folder) == set(), f"the killed build's {left.name} is still there"


def test_a_live_build_s_partial_file_is_kept_however_old_it_looks(tmp_path):
    from SDSegLogic.compiled_partials import STALE_PARTIAL_S, remove_stale_partials

    folder, live, mine = _caught_build(tmp_path, "live")
    try:
        _age(mine)
        assert remove_stale_partials(folder) == []
        assert live.poll() is None, "the build ended before the clean-up could be checked against it"
        assert mine.exists(), "a live build's partial file was deleted"
        assert live.wait(300) == 0
    finally:
        if live.poll() is None:
            live.kill()
            live.wait(30)
    assert (folder / "live.pt2").is_file() and _partials(folder) == set()

    # a file nobody holds: kept while it may be a build between creating and locking it, deleted once old
    unheld = folder / ".other.abc123.partial.pt2"
    unheld.write_bytes(b"half a package")
    _age(unheld, STALE_PARTIAL_S / 2)
    assert remove_stale_partials(folder) == [] and unheld.exists()
    _age(unheld, STALE_PARTIAL_S * 2)
    assert remove_stale_partials(folder) == [unheld] and not unheld.exists()
