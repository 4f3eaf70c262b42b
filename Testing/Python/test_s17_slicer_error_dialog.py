"""The "Segmentation failed" dialog shows the engine log once, under Show Details, not also in its message.

A local engine that exits while loading its model, or dies during a run, fails the job with a
message that already quotes the engine log's last lines ("... Engine log (last lines):" /
"... Last engine log lines:"); the job's error data carry the same log (``log_tail``), which the
dialog shows as its detailed text. Before, the dialog's message was the whole event text, so the
log was shown twice: in the message and again under Show Details. Now the message keeps what
comes before the quoted log (and the remark after it), and the log is in the details only.

Slicer's ``slicer.util.errorDisplay(text, ..., detailedText=...)`` puts ``text`` in the message
box and ``detailedText`` behind its "Show Details..." button (checked in Slicer's source,
``Base/Python/slicer/util.py``: ``messageBox`` sets ``mbox.text = text`` and each keyword argument
the ``ctk.ctkMessageBox`` has as its property); the fake records both (``FakeSlicer.errors``,
``FakeSlicer.error_details``).

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` with the real engine process
and a tiny random-weight model.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _kill_engine_during_a_run, _segment_with_a_broken_model, app, engines, sdseg, tiny_model,
)


def _log_lines(widget):
    """The engine log's meaningful last lines (what the dialog's details show)."""
    return [line.strip() for line in widget.logic.engineLogTail().splitlines() if "sdseg-engine" in line]


def _assert_log_once(fake, widget):
    message, details = fake.errors[-1], fake.error_details[-1]
    lines = _log_lines(widget)
    assert lines and details.startswith("Engine log (last lines):"), details
    assert all(line in details for line in lines), (lines, details)
    quoted = [line for line in lines if line in message.splitlines()]
    assert not quoted, f"the dialog's message quotes the engine log again: {quoted}\n{message}"
    assert "Show Details" in message, message  # it says where the log is


def test_an_engine_that_exits_while_loading_shows_its_log_once(app, sdseg, tiny_model, tmp_path):
    fake, widget = sdseg
    _segment_with_a_broken_model(app, fake, widget, tiny_model, tmp_path)  # its engine exits with code 3 while loading
    assert fake.errors[-1].startswith("Segmentation failed:") and "exited with code 3" in fake.errors[-1]
    assert "does not match the model card" in fake.errors[-1].splitlines()[1]  # the reason stays in the message
    _assert_log_once(fake, widget)


def test_an_engine_killed_during_a_run_shows_its_log_once_and_keeps_the_advice(app, sdseg):
    fake, widget = sdseg
    _kill_engine_during_a_run(app, fake, widget)
    message = fake.errors[-1]
    assert "exited with code -9" in message, message
    assert "Stop the engine and start it again" in message, message  # the advice stays (before or after the quoted log)
    assert "[engine error: engine_died]" in message, message  # and the error code glued after the quoted log
    _assert_log_once(fake, widget)


def test_an_error_without_a_quoted_log_keeps_its_message_and_details():
    import sys

    from slicer_test_helpers import MODULE

    sys.path.insert(0, str(MODULE))
    from SDSegLib.diagnostics import error_dialog

    tail = "12:00 sdseg-engine INFO ready\n12:01 sdseg-engine ERROR job 1 failed:\nTraceback ..."
    text = "unexpected KeyError in the engine: 'x'. The engine log has the details."
    assert error_dialog(text, {"log_tail": tail}) == (text, "Engine log (last lines):\n" + tail)
    assert error_dialog("bad input", {"code": "input_error"}) == ("bad input", "")


@pytest.mark.parametrize("advice_first", [True, False])
def test_a_dead_engine_s_message_keeps_its_advice_wherever_the_log_is_quoted(advice_first):
    import sys

    from slicer_test_helpers import MODULE

    sys.path.insert(0, str(MODULE))
    from SDSegLib.diagnostics import error_dialog

    tail = "12:00 sdseg-engine INFO ready\n12:01 sdseg-engine INFO segmenting image:\nmemory: about 1 MiB"
    advice = "Stop the engine and start it again (Segment restarts an engine that exited)."
    head = "the engine closed the connection; the engine process (pid 7) exited with code -9."
    text = (f"{head} {advice} Last engine log lines:\n{tail} [engine error: engine_died]" if advice_first
            else f"{head[:-1]}. Last engine log lines:\n{tail}. {advice} [engine error: engine_died]")
    message, details = error_dialog(text, {"log_tail": tail})
    assert details == "Engine log (last lines):\n" + tail
    assert not [line for line in tail.splitlines() if line in message], message
    assert head[:-1] in message and advice in message and "[engine error: engine_died]" in message, message
