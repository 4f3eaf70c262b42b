"""Output paths of ``sdseg segment``: checked before the model loads, staged and written together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_segment_fixtures import crop, events, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.cli_outputs import _write_outputs
from SDSegLogic.cli_segment import Job
from SDSegLogic.errors import InputError

sitk = pytest.importorskip("SimpleITK")


def _labels(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


# ---------------------------------------------------------------------- outputs are checked first
def test_unwritable_output_exits_6(tiny_folder, crop, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run(["segment", crop, "-o", blocker / "o.seg.nrrd", "--model", tiny_folder, "--json"], capsys)
    assert code == 6, err
    error = next(e for e in events(out) if e["event"] == "error")
    assert error["exit_code"] == 6 and "a-file" in error["message"] and "writable" in error["message"]


# ---------------------------------------------------------------------- outputs are committed together
def test_a_failing_output_leaves_every_existing_file_unchanged(tiny_folder, crop, tmp_path):
    """The segmentation is staged like the others and replaced only when every output was written."""
    import warnings

    from SDSegLogic.io import image_data_from_array, read_image
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.segment import segment_array

    image = read_image(crop)
    pipeline = SDSegPipeline.from_pretrained(tiny_folder, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment_array(image.array, image.geometry, pipeline)
    out = tmp_path / "out"
    out.mkdir()
    (out / "o.seg.nrrd").write_text("previous result")
    job = Job(crop, {"segmentation": out / "o.seg.nrrd", "probabilities": out / "p.nrrd", "preview": out / "v.png"})
    other_image = image_data_from_array(np.zeros((2, 8, 8), np.float32))  # the preview writer refuses it
    with pytest.raises(InputError, match="pass the image that was segmented"):
        _write_outputs(job, other_image, result, pipeline.model_card)
    assert sorted(p.name for p in out.iterdir()) == ["o.seg.nrrd"]  # no new file, no temporary file left
    assert (out / "o.seg.nrrd").read_text() == "previous result"
    written = _write_outputs(job, image, result, pipeline.model_card)
    assert sorted(written) == ["preview", "probabilities", "segmentation"]
    assert sorted(p.name for p in out.iterdir()) == ["o.seg.nrrd", "p.nrrd", "v.png"]
    np.testing.assert_array_equal(_labels(out / "o.seg.nrrd"), result.labels)
