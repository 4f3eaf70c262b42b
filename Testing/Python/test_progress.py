"""ProgressTracker ETA, ProgressEvent JSON and the text progress bar."""

from __future__ import annotations

import io
import json

import pytest

from SDSegLogic.progress import (
    EVENT_FORMAT_VERSION,
    ProgressEvent,
    ProgressTracker,
    TextProgressBar,
    format_seconds,
)


class FakeClock:
    """A clock the test advances by hand (the real one cannot be controlled)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_eta_unknown_without_prior_until_first_unit():
    clock = FakeClock()
    tracker = ProgressTracker(10, clock=clock)
    assert tracker.eta_s is None
    clock.now += 4.0
    tracker.update(2)
    assert tracker.seconds_per_unit == pytest.approx(2.0)
    assert tracker.eta_s == pytest.approx(16.0)
    clock.now += 6.0
    tracker.update(5)
    assert tracker.eta_s == pytest.approx(10.0)  # 10 s for 5 -> 2 s per slice, 5 left
    tracker.update(10)
    assert tracker.eta_s == 0.0
    assert tracker.fraction == 1.0


def test_prior_used_before_first_unit_then_replaced_by_measurement():
    clock = FakeClock()
    tracker = ProgressTracker(20, prior_seconds_per_unit=0.5, clock=clock)
    assert tracker.eta_s == pytest.approx(10.0)
    clock.now += 3.0  # the first batch is still running: the prior estimate counts down
    assert tracker.eta_s == pytest.approx(7.0)
    clock.now += 27.0
    assert tracker.eta_s == 0.0  # never negative
    tracker.update(10)  # 30 s for 10 slices: the measured rate wins over the prior
    assert tracker.eta_s == pytest.approx(30.0)


@pytest.mark.parametrize("done, expected", [(-3, 0), (0, 0), (4, 4), (99, 8)])
def test_update_clips_to_total(done, expected):
    tracker = ProgressTracker(8)
    tracker.update(done)
    assert tracker.done == expected


def test_empty_job_is_complete_and_bad_arguments_raise():
    tracker = ProgressTracker(0)
    assert tracker.fraction == 1.0 and tracker.eta_s == 0.0
    with pytest.raises(ValueError):
        ProgressTracker(-1)
    with pytest.raises(ValueError):
        ProgressTracker(5, prior_seconds_per_unit=-0.1)


def test_event_json_is_one_strict_line_and_round_trips():
    event = ProgressEvent(
        "progress", volume=2, volumes=3, input="a b/ct.nrrd", done=5, total=40, eta_s=12.3456, elapsed_s=float("nan"),
        extra={"device": "cpu"},
    )
    line = event.to_json()
    assert "\n" not in line and "NaN" not in line
    data = json.loads(line)
    assert data["format_version"] == EVENT_FORMAT_VERSION
    assert data["event"] == "progress" and data["eta_s"] == 12.35 and data["elapsed_s"] is None
    assert data["device"] == "cpu" and "outputs" not in data and "message" not in data
    again = ProgressEvent.from_json(line)
    assert again.volume == 2 and again.input == "a b/ct.nrrd" and again.extra == {"device": "cpu"}


def test_event_kind_is_checked():
    with pytest.raises(ValueError, match="must be one of"):
        ProgressEvent("finished")


@pytest.mark.parametrize("seconds, text", [(None, "?"), (0, "0:00"), (75.4, "1:15"), (3725, "1:02:05"), (float("inf"), "?")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def _progress(done, total=100):
    return ProgressEvent("progress", volume=1, volumes=2, input="/data/ct.nrrd", done=done, total=total, eta_s=30, elapsed_s=5)


def test_bar_in_a_log_file_writes_one_line_per_ten_percent():
    stream = io.StringIO()
    bar = TextProgressBar(stream, width=10, interactive=False)
    for done in range(0, 101):
        bar(_progress(done))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # 0 %, 10 %, ..., 100 %
    assert lines[0].startswith("[1/2] ct.nrrd: |----------| 0/100 slices")
    assert lines[-1].startswith("[1/2] ct.nrrd: |##########| 100/100 slices") and "ETA 0:30" in lines[-1]


def test_bar_on_a_terminal_rewrites_one_line_and_ends_it_on_volume_done():
    stream = io.StringIO()
    bar = TextProgressBar(stream, width=4, interactive=True)
    bar(_progress(1, 4))
    bar(_progress(2, 4))
    bar(ProgressEvent("volume_done", volume=1, volumes=2, input="ct.nrrd", elapsed_s=61, outputs={"segmentation": "o.seg.nrrd"}))
    text = stream.getvalue()
    assert text.count("\r") == 2 and "|##--|" in text
    assert text.endswith("\n[1/2] ct.nrrd: done in 1:01 -> o.seg.nrrd\n")


def test_bar_reports_errors():
    stream = io.StringIO()
    TextProgressBar(stream, interactive=False)(ProgressEvent("error", volume=2, volumes=2, input="x.png", message="bad"))
    assert stream.getvalue() == "[2/2] x.png: error: bad\n"
