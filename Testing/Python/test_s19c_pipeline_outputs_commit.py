"""The outputs of one input are replaced together: a rename failing partway rolls the others back."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, isolated_home, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.cli_errors import OutputError
from SDSegLogic.cli_outputs import _write_outputs
from SDSegLogic.cli_segment import Job

pytest.importorskip("SimpleITK")


@pytest.fixture(scope="module")
def segmented(tiny_folder, crop):
    """(image, result, model card) of the tiny real model on the 4-slice CT crop."""
    from SDSegLogic.io import read_image
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.segment import segment_array

    image = read_image(crop)
    pipeline = SDSegPipeline.from_pretrained(tiny_folder, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment_array(image.array, image.geometry, pipeline)
    return image, result, pipeline.model_card


def _blocked_folder(path: Path) -> Path:
    """Make ``path`` a non-empty folder: ``os.replace`` of a file onto it fails (also for root)."""
    path.mkdir()
    (path / "keep.txt").write_text("someone's file")
    return path


@pytest.mark.parametrize("preview_existed", [True, False])
def test_a_rename_failing_partway_leaves_every_output_as_before(segmented, crop, tmp_path, preview_existed):
    """The folder appeared after the check (another process): before, the preview was already new."""
    image, result, card = segmented
    out = tmp_path / "out"
    out.mkdir()
    (out / "o.seg.nrrd").write_text("previous segmentation")
    if preview_existed:
        (out / "v.png").write_text("previous preview")
    _blocked_folder(out / "p.nrrd")
    job = Job(crop, {"segmentation": out / "o.seg.nrrd", "probabilities": out / "p.nrrd", "preview": out / "v.png"})
    with pytest.raises(OutputError) as caught:
        _write_outputs(job, image, result, card)
    assert (out / "o.seg.nrrd").read_text() == "previous segmentation"
    if preview_existed:
        assert (out / "v.png").read_text() == "previous preview"
    else:
        assert not (out / "v.png").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(["o.seg.nrrd", "p.nrrd"] + ["v.png"] * preview_existed)
    assert [p.name for p in (out / "p.nrrd").iterdir()] == ["keep.txt"]
    message = str(caught.value)  # names the output that failed, and that the others are as they were
    assert f"{out / 'p.nrrd'}:" in message and "unchanged" in message and "v.png" not in message, message


def test_a_failing_segmentation_rename_keeps_the_other_outputs_old(segmented, crop, tmp_path):
    """Whatever the order of the renames, the failing one undoes those before it."""
    image, result, card = segmented
    out = tmp_path / "out"
    out.mkdir()
    (out / "p.nrrd").write_text("previous map")
    (out / "v.png").write_text("previous preview")
    _blocked_folder(out / "o.seg.nrrd")
    job = Job(crop, {"probabilities": out / "p.nrrd", "preview": out / "v.png", "segmentation": out / "o.seg.nrrd"})
    with pytest.raises(OutputError, match="o.seg.nrrd"):
        _write_outputs(job, image, result, card)
    assert (out / "p.nrrd").read_text() == "previous map"
    assert (out / "v.png").read_text() == "previous preview"
    assert sorted(p.name for p in out.iterdir()) == ["o.seg.nrrd", "p.nrrd", "v.png"]


def test_outputs_replaced_together_leave_no_kept_copies(segmented, crop, tmp_path):
    """On success every output is new and the replaced files are gone (no kept copy left beside them)."""
    image, result, card = segmented
    out = tmp_path / "out"
    out.mkdir()
    for name in ("o.seg.nrrd", "p.nrrd", "v.png"):
        (out / name).write_text("previous")
    job = Job(crop, {"segmentation": out / "o.seg.nrrd", "probabilities": out / "p.nrrd", "preview": out / "v.png"})
    written = _write_outputs(job, image, result, card)
    assert sorted(written) == ["preview", "probabilities", "segmentation"]
    assert sorted(p.name for p in out.iterdir()) == ["o.seg.nrrd", "p.nrrd", "v.png"]
    assert all((out / name).read_bytes() != b"previous" for name in ("o.seg.nrrd", "p.nrrd", "v.png"))
