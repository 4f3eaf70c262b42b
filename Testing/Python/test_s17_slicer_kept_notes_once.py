"""Writing a result reads each SDSeg segment's Segment Editor status once, and says what it kept once.

``SDSegModuleLogic.applyResult`` computed the notes on kept segments (a person's work, a class name
another segment has: ``kept_segment_notes``) for the run's warnings, then ``write_segmentation``
computed them again for the node, then read each segment's status a third time to decide what to
skip. Now the writer computes them once (``write_result`` returns them with the node) and the
result is the same: the note is in the run's warnings and on the node once, the kept segment
untouched. Against ``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer; its
segment status copies ``vtkSlicerSegmentationsModuleLogic``'s ``Segmentation.Status`` tag) with
the real engine and the tiny two-class model.
"""

from __future__ import annotations

import numpy as np

from slicer_logic_helpers import (  # noqa: F401 - manager, model_folder are pytest fixtures; puts SDSegLib on sys.path
    manager, model_folder, rerun_over_a_completed_segment,
)


def test_apply_result_reads_each_status_once_and_keeps_the_reviewed_segment(monkeypatch, manager, model_folder):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.segmentation_writer import WARNINGS_ATTRIBUTE

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(
        "CT", np.random.default_rng(5).normal(0, 120, (3, 32, 32)).astype(np.int16)))
    logic, node, reviewed, job = rerun_over_a_completed_segment(fake, volume, manager, model_folder)
    segments = node.GetSegmentation().GetNumberOfSegments()

    reads = []
    statuses = fake.vtkSlicerSegmentationsModuleLogic
    read = statuses.GetSegmentStatus
    monkeypatch.setattr(statuses, "GetSegmentStatus", lambda segment: reads.append(segment.GetName()) or read(segment))
    assert logic.applyResult(job, volume, node) is node

    assert len(reads) == segments, f"each segment's status read once, not {reads}"  # before: 3 reads per segment
    np.testing.assert_array_equal(node.masks["sdseg_1_liver"], reviewed)  # the reviewed segment kept
    notes = [w for w in job.result_warnings if "Segment 'liver'" in w and "'Completed'" in w]
    assert len(notes) == 1, job.result_warnings
    assert node.GetAttribute(WARNINGS_ATTRIBUTE).splitlines() == job.result_warnings  # the node says the same, once
