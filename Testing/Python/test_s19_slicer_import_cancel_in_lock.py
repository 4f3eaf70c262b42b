"""A cancellable model zip import stays cancellable until it holds the model's lock, however the lock changes hands.

The panel's Cancel import used to be polled from outside the lock: its ``on_wait`` looked at the
locks (without holding them) until they looked free, then ``cache_import_lock`` took them with a
blocking call. Between that look and the lock call the lock could change hands: an import that
is letting go (its lock file already removed, the lock not yet released: what every import does
on its way out) looks free; so does a lock a third import takes just after the look. The waiting
import then blocked without asking ``cancelled`` again, and a Cancel pressed meanwhile was lost:
the model was installed anyway. Now the lock's own wait loop asks ``cancelled`` between its
non-blocking tries, up to the moment it holds the lock.

The other import is a real second process doing what an import holding the model's lock does in
the same order (shared lock on the cache folder, exclusive lock on ``.<id>.import-lock`` with its
note; on its way out: lock file removed, then released), stopped by the test between its steps.
The tiny model is real, zipped as a user makes one; no Slicer is needed (``SDSegLib.model_library``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from slicer_logic_helpers import model_folder  # noqa: F401 - a pytest fixture; puts SDSegLib on sys.path
from test_slicer_models import _zip_model

pytest.importorskip("fcntl")

SAFETY_S = 60.0
"""Seconds after which the holder lets go anyway: an import that is not cancelled must not hang the test."""
LEAVING_HOLDER = """
import fcntl, os, sys
home, lock = sys.argv[1], sys.argv[2]
home_fd = os.open(home, os.O_RDONLY)
fcntl.flock(home_fd, fcntl.LOCK_SH)
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, b"process 4242 importing /elsewhere/tiny-widget.zip, started 13:00:00 UTC", 0)
print("held", flush=True)
sys.stdin.readline()
os.unlink(lock)  # an import on its way out: its lock file removed while still held ...
print("removed", flush=True)
sys.stdin.readline()
os.close(fd)  # ... then released
os.close(home_fd)
"""


class LeavingImport:
    """Another import of ``model_id`` holding its lock in ``home``, let go step by step by the test."""

    def __init__(self, home: Path, model_id: str) -> None:
        from SDSegLogic.model_cache_lock import model_lock_file

        self.process = subprocess.Popen([sys.executable, "-c", LEAVING_HOLDER, str(home), str(model_lock_file(home, model_id))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "held"
        self.safety = threading.Timer(SAFETY_S, self.end)
        self.safety.start()

    def remove_lock_file(self) -> None:
        """Its first step out: the lock file is gone, the lock still held."""
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "removed"

    def end(self) -> None:
        self.safety.cancel()
        if not self.process.stdin.closed:
            try:
                self.process.stdin.close()  # end of input: the holder steps out at once
            except BrokenPipeError:
                pass
        self.process.wait(60)
        self.process.stdout.close()


def test_a_cancel_pressed_while_the_lock_changes_hands_is_not_lost(model_folder, tmp_path):
    from engine_fixtures import make_tiny_model
    from SDSegLib.model_library import import_model_zip
    from SDSegLogic.errors import CancelledError
    from SDSegLogic.registry import Registry

    model = make_tiny_model(tmp_path / "models" / "tiny-widget", model_id="tiny-widget")
    home = tmp_path / "cache"
    home.mkdir()
    archive = _zip_model(model, tmp_path / "tiny-widget.zip")
    other = LeavingImport(home, "tiny-widget")
    waiting, pressed, asked_while_held, outcome = threading.Event(), threading.Event(), threading.Event(), {}

    def cancelled() -> bool:
        """The panel's Cancel import: pressed just after the first time it is asked during the wait, while the
        other import leaves."""
        if not waiting.is_set():
            return False  # asked before the wait (the zip being read): not pressed yet
        if not asked_while_held.is_set():
            asked_while_held.set()
            other.remove_lock_file()  # the other import is on its way out ...
            pressed.set()  # ... and the user presses Cancel import: this import has not got the lock yet
            return False
        return pressed.is_set()

    def importing() -> None:
        try:
            outcome["value"] = import_model_zip(archive, Registry(), home, on_wait=lambda sentence: waiting.set(),
                                                cancelled=cancelled)
        except Exception as exc:  # noqa: BLE001 - checked below
            outcome["error"] = exc

    worker = threading.Thread(target=importing)
    try:
        worker.start()
        assert asked_while_held.wait(SAFETY_S), "the import never asked whether it was cancelled while it waited"
        assert pressed.wait(SAFETY_S)
    finally:
        other.end()  # the other import lets go
        worker.join(SAFETY_S)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), CancelledError), (
        f"Cancel import was pressed while the import still waited for the model's lock, yet it went on: {outcome}")
    assert "nothing was installed" in str(outcome["error"])
    folder = home / "tiny-widget"
    assert not (folder / "0.0.1").exists() and not list(folder.glob(".import-*"))
    spec, message = import_model_zip(archive, Registry(), home, cancelled=threading.Event().is_set)  # nothing left locked
    assert spec == "tiny-widget" and message.startswith("Imported")


def test_the_lock_itself_takes_the_cancel_hook_and_a_third_import_keeps_it_cancellable(tmp_path):
    """``cache_import_lock(cancelled=...)``: the wait raises CancelledError with the body never run, also when a
    third import holds the lock the first one left (the hook is asked on every try, not once before the lock)."""
    from slicer_import_helpers import OtherImport
    from SDSegLogic.errors import CancelledError
    from SDSegLogic.model_cache_lock import cache_import_lock, model_lock_file

    home = tmp_path / "cache"
    home.mkdir()
    first = LeavingImport(home, "tiny-widget")
    third: list = []
    told, asks, outcome = [], [], {}

    def cancelled() -> bool:
        if not told:
            return False  # asked before the wait: nothing pressed
        asks.append(1)
        if len(asks) == 1:  # waiting for the first import: it leaves and a third one takes the lock in its place
            first.remove_lock_file()
            first.end()
            third.append(OtherImport(home, "tiny-widget"))
            return False
        return len(asks) > 3  # asked again while the third import holds the lock: cancelled then

    try:
        with cache_import_lock(home, "tiny-widget", on_wait=told.append, cancelled=cancelled):
            outcome["ran"] = True
    except CancelledError as exc:
        outcome["error"] = exc
    finally:
        first.end()
        still_held = bool(third) and third[0].holds()
        for other in third:
            other.end()
    assert len(told) == 1 and "4242" in told[0], told
    assert "error" in outcome and "ran" not in outcome, outcome
    assert still_held, "the wait did not end while the third import held the lock"
    assert not model_lock_file(home, "tiny-widget").exists()


def test_cancel_import_pressed_before_the_import_reached_the_lock_installs_nothing(model_folder, tmp_path):
    """Cancel import pressed while the zip was still being read (hashed, its card checked), no other import running:
    the panel shows Cancel import from the start of an import, and nothing is installed yet then. The import went on
    and installed the model, and the panel said the Cancel "came after the wait for another import had ended"."""
    from engine_fixtures import make_tiny_model
    from SDSegLib.model_library import import_model_zip
    from SDSegLogic.errors import CancelledError
    from SDSegLogic.model_cache_lock import model_lock_file
    from SDSegLogic.registry import Registry

    model = make_tiny_model(tmp_path / "models" / "tiny-widget", model_id="tiny-widget")
    home = tmp_path / "cache"
    home.mkdir()
    archive = _zip_model(model, tmp_path / "tiny-widget.zip")
    pressed = threading.Event()
    pressed.set()  # pressed while the import was hashing the zip, before it reached the model's lock
    with pytest.raises(CancelledError, match="nothing was installed") as cancelled:
        import_model_zip(archive, Registry(), home, cancelled=pressed.is_set)
    assert "tiny-widget" in str(cancelled.value) and str(home) in str(cancelled.value)
    folder = home / "tiny-widget"
    assert not (folder / "0.0.1").exists() and not list(folder.glob(".import-*"))
    assert not model_lock_file(home, "tiny-widget").exists()
    spec, message = import_model_zip(archive, Registry(), home, cancelled=threading.Event().is_set)  # nothing left locked
    assert spec == "tiny-widget" and message.startswith("Imported")
