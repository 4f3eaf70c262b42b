"""Imports of different models do not wait for each other; an import of the same model says whom it waits for.

Import A (a real child process) pauses inside its import of ``tiny-test`` while it verifies the
unpacked model, holding that model's lock. Meanwhile, in this process, an import of another model
must go through without waiting, and one of ``tiny-test`` must wait, naming A's process and zip.
An ``on_wait`` that raises stops a waiting import at once, so a wrong wait fails the test instead
of hanging it.
"""

from __future__ import annotations

import os
import threading

import pytest
import test_models_interrupted_import as interrupted
from test_models_interrupted_import import HANG_GUARD_S, _installed_from, _paused_import

from SDSegLogic.model_cache_lock import cache_import_lock
from SDSegLogic.model_folder import verify_model_folder
from SDSegLogic.model_zip import import_zip
from SDSegLogic.registry import Registry

pytestmark = pytest.mark.skipif(os.name == "nt", reason="flock locks (POSIX); Windows polls msvcrt locks")


zips = interrupted.zips  # its module-scoped fixture: zips of tiny-test 1.0.0 (a, b, c) and of other-model 2.0.0


class _Waited(Exception):
    """Raised by an ``on_wait`` to stop an import that would wait."""


def _refuse_to_wait(message: str) -> None:
    raise _Waited(message)


@pytest.fixture
def paused_import(zips, tmp_path):
    """Child A importing b.zip of tiny-test 1.0.0 (--force), paused while it holds the model's lock."""
    home, child, flags = _paused_import(zips, tmp_path, "verify")
    yield home, child
    (flags / "go").touch()
    assert child.wait(timeout=HANG_GUARD_S) == 0, (tmp_path / "child-b.log").read_text()
    assert _installed_from(home) == "b.zip"  # A finished its own import, untouched by the others


def test_an_import_of_another_model_does_not_wait(paused_import, zips):
    home, child = paused_import
    installed = import_zip(zips["other"], Registry(), home, on_wait=_refuse_to_wait)
    assert installed.folder == home / "other-model" / "2.0.0" and verify_model_folder(installed.folder) == []


def test_an_import_of_the_same_model_names_the_import_it_waits_for(paused_import, zips):
    home, child = paused_import
    with pytest.raises(_Waited) as waited:
        import_zip(zips["c"], Registry(), home, force=True, on_wait=_refuse_to_wait)
    message = str(waited.value)
    assert f"process {child.pid}" in message and "b.zip" in message and "tiny-test" in message, message


def test_the_model_lock_is_exclusive_between_threads_and_leaves_no_file(tmp_path):
    """Two threads of one process: the second waits until the first lets go; the lock file goes with the holder."""
    from SDSegLogic.model_cache_lock import model_lock_file

    home = tmp_path / "models"
    home.mkdir()
    events: list = []
    inside, release = threading.Event(), threading.Event()

    def first():
        with cache_import_lock(home, "tiny-test", note="first holder"):
            events.append("first in")
            inside.set()
            release.wait(HANG_GUARD_S)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(HANG_GUARD_S)
    told: list = []

    def on_wait(message):
        told.append(message)
        release.set()  # let the first holder go only once this one is known to wait

    with cache_import_lock(home, "tiny-test", on_wait=on_wait):
        events.append("second in")
    thread.join(HANG_GUARD_S)
    assert events == ["first in", "first out", "second in"]
    assert len(told) == 1 and "first holder" in told[0]
    with cache_import_lock(home, "other-model", on_wait=_refuse_to_wait):  # another model: no wait
        pass
    assert not model_lock_file(home, "tiny-test").exists() and list(home.iterdir()) == []
