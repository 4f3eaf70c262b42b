"""Model zip imports in the Slicer panel tests: a model cache with a zip to import, and another import holding its lock.

The other import is a real second process holding the model's lock in the cache (``cache_import_lock``), as
another Slicer or ``sdseg models import`` in a terminal does. Needs PySide6 (the panel's timer).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, List, Tuple

import pytest
from PySide6.QtCore import QTimer

from slicer_test_helpers import REPO, _idle_panel, _segment, _until
from test_slicer_models import _zip_model

SAFETY_S = 30.0
"""Seconds after which the other import lets go anyway: an import that cannot be cancelled must not hang the test."""
LONG = (600, 32, 32)
"""(K, J, I) of a volume whose run (one slice a batch) is still going on when an import has ended."""
NOTE = "process 4242 importing /elsewhere/tiny-widget.zip, started 13:00:00 UTC"
HOLDER = """
import sys
from pathlib import Path
from SDSegLogic.model_cache_lock import cache_import_lock
with cache_import_lock(Path(sys.argv[1]), sys.argv[2], note=sys.argv[3]):
    print("held", flush=True)
    sys.stdin.readline()  # holds the lock until the test closes this pipe
"""


class OtherImport:
    """Another process importing ``model_id`` into ``home``: it holds the model's import lock until :meth:`end`."""

    def __init__(self, home: Path, model_id: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(home), model_id, NOTE], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout.readline().strip() == "held"
        self.safety = threading.Timer(SAFETY_S, self.end)
        self.safety.start()

    def holds(self) -> bool:
        return self.process.poll() is None

    def end(self) -> None:
        self.safety.cancel()
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(60)
        self.process.stdout.close()


def cache_home_with_zip(tiny_model: Path, tmp_path: Path, monkeypatch) -> Tuple[Path, Path]:
    """Point ``SDSEG_HOME`` into ``tmp_path``, create its model cache, zip ``tiny_model`` as a user makes one.

    Returns:
        (the model cache folder, ``tmp_path / "tiny-widget.zip"``).
    """
    from SDSegLogic.registry import models_home

    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "sdseg-home"))
    home = models_home()
    home.mkdir(parents=True)
    return home, _zip_model(tiny_model, tmp_path / "tiny-widget.zip")


def import_while_other_holds(widget, archive: Path, other: OtherImport, tick: Callable[[], None]) -> bool:
    """``widget.importModelZip(archive)`` with ``tick()`` on a 20 ms GUI timer; ``other`` is ended afterwards.

    The timer fires only while the GUI thread processes events, i.e. while the panel keeps answering.

    Returns:
        Whether ``other`` still held the model's lock right after the import returned.
    """
    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(20)
    try:
        widget.importModelZip(str(archive))
        return other.holds()
    finally:
        timer.stop()
        other.end()


def segment_once_the_import_waits(widget, volume, started: List, then: Callable[[], None]) -> Callable[[], None]:
    """A tick for :func:`import_while_other_holds`: the clinician presses Segment while the import waits.

    Once the log says the model is being imported, the first tick starts a run on ``volume`` (one slice a batch),
    appends its job to ``started`` and calls ``then()`` (e.g. ``other.end`` or a click on Cancel import).
    """
    ui, p = widget.ui, widget._parameterNode

    def tick() -> None:
        if "being imported" in ui.statusLog.toPlainText() and not started:
            p.batchSize = 1
            started.append(_segment(widget, volume))
            then()

    return tick


def stop_the_run(app, widget, started: List) -> bool:
    """Stop the run still going on (Segment pressed again); whether the run in ``started`` (if any) ended, panel idle."""
    if widget._job is not None:
        widget.ui.segmentButton.click()
    return not started or _until(app, lambda: started[0].finished) and _idle_panel(widget)


def the_run_s_line(widget, started: List) -> str:
    """The panel's status line while the run ``started[0]`` goes on; fails the test if that run ended already."""
    if widget._job is not started[0]:
        pytest.fail("the run ended before the import did; the test needs a longer run")
    return widget.ui.etaLabel.text
