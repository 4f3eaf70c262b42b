"""The device line of a one-thread engine says "1 thread", not "1 threads".

An engine started with ``--threads 1`` (what the panel's tests do; a small VM or a cgroup of one
CPU gives the same) reported its device in the panel as "CPU: 1 threads, ... GiB RAM free". The
line is :func:`SDSegLib.diagnostics.describe_engine` of the real engine's ``info`` reply.
"""

from __future__ import annotations

from slicer_test_helpers import (  # noqa: F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, _idle_panel, _until, app, engines, sdseg, tiny_model,
)


def test_s20e2_one_thread_engine_device_line(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    ui.segmentButton.click()
    job = widget._job
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert job.info["devices"]["cpu_threads"] == 1  # the fixture's engine runs with --threads 1
    assert ui.deviceInfoLabel.text.startswith("CPU: 1 thread, "), ui.deviceInfoLabel.text  # before: "1 threads"


def test_s20e2_several_threads_still_plural():
    from SDSegLib.diagnostics import describe_engine

    line = describe_engine({"device": "cpu", "devices": {"cpu_threads": 8, "cuda": []},
                            "host_memory": {"available_gib": 14.2, "total_gib": 31.3}})
    assert line == "CPU: 8 threads, 14.2 of 31.3 GiB RAM free, no CUDA GPU found"
