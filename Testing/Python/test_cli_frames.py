"""``sdseg segment --frame all``: every frame of a 4-D input, each checked against the CLI's own ``--frame k`` run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_segment_fixtures import SAMPLE_CT, crop, events, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)
from cli_test_helpers import FailsOnConstantSlices

from SDSegLogic.cli import UsageError, build_parser
from SDSegLogic.cli_segment import run_segment
from SDSegLogic.errors import CancelledError

sitk = pytest.importorskip("SimpleITK")
nrrd = pytest.importorskip("nrrd")

SPACING, ORIGIN = (0.8, 0.7, 2.5), (10.0, -20.0, 30.0)
DIRECTION = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # columns: i, j, k in LPS


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """Three 4 x 32 x 32 frames (T, K, J, I) cut from different places of the bundled CT: different content."""
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(SAMPLE_CT)))[30:34]
    return np.stack([ct[:, 90 + 20 * t:122 + 20 * t, 100 + 30 * t:132 + 30 * t] for t in range(3)]).astype(np.int16)


def _write_4d_nrrd(path: Path, frames: np.ndarray) -> Path:
    """A 4-D NRRD (``kinds: list domain domain domain``) on the test grid."""
    header = {"kinds": ["list", "domain", "domain", "domain"], "space": "left-posterior-superior",
              "space directions": np.vstack([[np.nan] * 3, (DIRECTION * SPACING).T]), "space origin": np.array(ORIGIN)}
    nrrd.write(str(path), np.ascontiguousarray(frames.transpose(0, 3, 2, 1)), header)
    return path


def _write_4d_nifti(path: Path, frames: np.ndarray) -> Path:
    volumes = []
    for frame in frames:
        volume = sitk.GetImageFromArray(frame)
        volume.SetSpacing(SPACING)
        volume.SetOrigin(ORIGIN)
        volume.SetDirection(tuple(DIRECTION.reshape(-1)))
        volumes.append(volume)
    sitk.WriteImage(sitk.JoinSeries(volumes), str(path))
    return path


def _labels(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _on_test_grid(path: Path) -> None:
    """The output lies on the 3-D grid of the input's frames."""
    image = sitk.ReadImage(str(path))
    assert image.GetDimension() == 3 and image.GetSize() == (32, 32, 4)
    np.testing.assert_allclose(image.GetSpacing(), SPACING, rtol=1e-6)
    np.testing.assert_allclose(image.GetOrigin(), ORIGIN, atol=1e-4)
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), DIRECTION, atol=1e-6)


def _single_frame_labels(source: Path, frame: int, folder: Path, model: Path, capsys) -> np.ndarray:
    """The labels of the CLI's own ``--frame k`` run."""
    target = folder / f"single-{frame}.seg.nrrd"
    code, _, err = run(["segment", source, "-o", target, "--model", model, "--frame", frame, "--quiet"], capsys)
    assert code == 0, err
    return _labels(target)


def _must_not_load(folder, device):
    raise AssertionError("the model was loaded although an output path was wrong")


def test_every_frame_of_a_4d_nrrd_gets_its_outputs_equal_to_its_single_frame_run(tiny_folder, frames, tmp_path,
                                                                                   capsys):
    source = _write_4d_nrrd(tmp_path / "cine.nrrd", frames)
    out = tmp_path / "out"
    code, _, err = run(["segment", source, "-o", f"{out}/", "--frame", "all", "--model", tiny_folder,
                        "--prob-map", f"{out}/", "--preview", f"{out}/"], capsys)
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"cine.frame{k:03d}.{kind}" for k in range(3) for kind in ("preview.png", "prob.nrrd", "seg.nrrd")]
    assert "[2/3] cine.nrrd (frame 1): done" in err  # the progress bar names the frame
    labels = [_labels(out / f"cine.frame{k:03d}.seg.nrrd") for k in range(3)]
    assert not np.array_equal(labels[0], labels[1]) and not np.array_equal(labels[1], labels[2])
    for k in range(3):
        np.testing.assert_array_equal(labels[k], _single_frame_labels(source, k, tmp_path, tiny_folder, capsys))
        _on_test_grid(out / f"cine.frame{k:03d}.seg.nrrd")
        _on_test_grid(out / f"cine.frame{k:03d}.prob.nrrd")


def test_a_4d_nifti_with_one_output_file_gets_one_file_per_frame_beside_it(tiny_folder, frames, tmp_path, capsys):
    source = _write_4d_nifti(tmp_path / "fmri.nii.gz", frames)
    target = tmp_path / "res" / "out.seg.nrrd"
    code, out, err = run(["segment", source, "-o", target, "--frame", "all", "--model", tiny_folder, "--json"], capsys)
    assert code == 0, err
    written = [target.with_name(f"out.frame{k:03d}.seg.nrrd") for k in range(3)]
    assert sorted(target.parent.iterdir()) == written  # never a single out.seg.nrrd holding one frame
    stream = events(out)
    assert stream[0]["event"] == "start" and stream[0]["volumes"] == 3
    for kind in ("progress", "volume_done"):
        assert sorted({(e["volume"], e["frame"], e["input"]) for e in stream if e["event"] == kind}) == \
            [(k + 1, k, str(source)) for k in range(3)]
    assert [e["outputs"]["segmentation"] for e in stream if e["event"] == "volume_done"] == [str(p) for p in written]
    assert stream[-1]["event"] == "done" and stream[-1]["exit_code"] == 0 and stream[-1]["outputs"] == {}
    assert stream[-1]["frame_outputs"] == {str(source): {str(k): str(p) for k, p in enumerate(written)}}
    assert all(e["format_version"] == 1 for e in stream)
    for k, path in enumerate(written):
        np.testing.assert_array_equal(_labels(path), _single_frame_labels(source, k, tmp_path, tiny_folder, capsys))
        _on_test_grid(path)


def test_output_conflicts_of_frames_fail_before_the_model_loads(frames, tmp_path, capsys):
    source = _write_4d_nrrd(tmp_path / "cine.nrrd", frames)
    out = tmp_path / "out"
    (out / "cine.frame001.seg.nrrd").mkdir(parents=True)  # a folder where frame 1's output goes
    args = build_parser().parse_args(["segment", str(source), "-o", f"{out}/", "--frame", "all"])
    with pytest.raises(UsageError, match="cine.frame001.seg.nrrd: is an existing folder"):
        run_segment(args, loader=_must_not_load)
    (out / "cine.frame001.seg.nrrd").rmdir()
    three_d = tmp_path / "cine.frame001.nrrd"  # a 3-D input whose output has frame 1's name
    sitk.WriteImage(sitk.GetImageFromArray(frames[1]), str(three_d))
    args = build_parser().parse_args(["segment", str(source), str(three_d), "-o", str(out), "--frame", "all"])
    with pytest.raises(UsageError, match=r"cine.frame001.seg.nrrd: used for both .* \(of .*cine.nrrd and of "):
        run_segment(args, loader=_must_not_load)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["cine.frame001.nrrd", "cine.nrrd"]


def test_a_dicom_seg_of_a_4d_input_is_refused(frames, tmp_path, capsys):
    source = _write_4d_nrrd(tmp_path / "cine.nrrd", frames)
    for extra in (["-o", tmp_path / "cine.seg.dcm"],
                  ["-o", tmp_path / "o.seg.nrrd", "--dicom-seg", tmp_path / "c.dcm"]):
        code, _, err = run(["segment", source, *extra, "--frame", "all", "--model", tmp_path / "no-model"], capsys)
        assert code == 2 and "has 3 frames and --frame all segments each one, but a DICOM SEG" in err, err
    args = build_parser().parse_args(["segment", str(source), "-o", str(tmp_path / "out") + "/", "--frame", "all",
                                      "--dicom-seg", str(tmp_path / "out") + "/"])
    with pytest.raises(UsageError, match="--dicom-seg .*cine.seg.dcm: .*has 3 frames"):
        run_segment(args, loader=_must_not_load)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cine.nrrd"]


def test_a_3d_input_with_frame_all_is_segmented_as_usual(tiny_folder, crop, tmp_path, capsys):
    target, reference = tmp_path / "o.seg.nrrd", tmp_path / "reference.seg.nrrd"
    code, out, err = run(["segment", crop, "-o", target, "--frame", "all", "--model", tiny_folder, "--json"], capsys)
    assert code == 0, err
    stream = events(out)
    assert not any("frame" in e for e in stream) and "frame_outputs" not in stream[-1]
    assert stream[-1]["outputs"] == {str(crop): str(target)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.seg.nrrd"]
    code, _, err = run(["segment", crop, "-o", reference, "--model", tiny_folder, "--quiet"], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(_labels(target), _labels(reference))


def test_a_failing_frame_is_reported_and_the_other_frames_go_on(tiny_folder, frames, tmp_path, capsys):
    broken = frames.astype(np.float32)
    broken[1, 2, 3, 4] = np.nan
    source = _write_4d_nrrd(tmp_path / "cine.nrrd", broken)
    out = tmp_path / "out"
    argv = ["segment", source, "-o", f"{out}/", "--frame", "all", "--model", tiny_folder, "--json"]
    code, stdout, err = run(argv, capsys)
    assert code == 3
    stream = events(stdout)
    error = next(e for e in stream if e["event"] == "error")
    assert (error["volume"], error["volumes"], error["frame"], error["exit_code"]) == (2, 3, 1, 3)
    assert "NaN" in error["message"]
    assert [e["frame"] for e in stream if e["event"] == "volume_done"] == [0, 2]
    assert stream[-1]["exit_code"] == 3 and sorted(stream[-1]["frame_outputs"][str(source)]) == ["0", "2"]
    assert sorted(p.name for p in out.iterdir()) == ["cine.frame000.seg.nrrd", "cine.frame002.seg.nrrd"]
    code, _, err = run(["segment", source, "-o", f"{tmp_path}/text/", "--frame", "all", "--model", tiny_folder], capsys)
    assert code == 3 and "sdseg: error: [2/3, frame 1] " in err


def test_cancelling_keeps_the_finished_frames_and_writes_nothing_of_the_current_one(tiny_folder, frames, tmp_path,
                                                                                    capsys):
    from SDSegLogic.pipeline import SDSegPipeline

    constant = frames.copy()
    constant[1] = -1000
    source = _write_4d_nrrd(tmp_path / "cine.nrrd", constant)
    out = tmp_path / "out"
    args = build_parser().parse_args(["segment", str(source), "-o", f"{out}/", "--frame", "all", "--model",
                                      str(tiny_folder), "--quiet"])
    stop = CancelledError("cancelled by the user")
    with pytest.raises(CancelledError):
        run_segment(args, loader=lambda folder, device: FailsOnConstantSlices(
            SDSegPipeline.from_pretrained(folder, device=device), stop))
    assert sorted(p.name for p in out.iterdir()) == ["cine.frame000.seg.nrrd"]


def test_frames_are_counted_from_the_header_and_named_to_sort_by_frame(frames, tmp_path):
    from PIL import Image

    from SDSegLogic.cli_frames import count_frames, frame_path

    source = _write_4d_nrrd(tmp_path / "cine.nrrd", frames)
    truncated = tmp_path / "truncated.nrrd"
    truncated.write_bytes(source.read_bytes()[:-1000])  # the header is whole, the voxels are not
    pages = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (0, 100)]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    nifti = _write_4d_nifti(tmp_path / "fmri.nii.gz", frames)
    sitk.WriteImage(sitk.GetImageFromArray(frames[0]), str(tmp_path / "one.nrrd"))
    assert [count_frames(p) for p in (source, truncated, tmp_path / "pages.tif", nifti, tmp_path / "one.nrrd",
                                      tmp_path / "missing.nrrd")] == [3, 3, 2, 3, None, None]
    assert frame_path(Path("o/out.seg.nrrd"), 7, 12) == Path("o/out.frame007.seg.nrrd")
    assert frame_path(Path("o/ct.prob.nrrd"), 0, 3) == Path("o/ct.frame000.prob.nrrd")
    assert frame_path(Path("o/p.nii.gz"), 1, 3) == Path("o/p.frame001.nii.gz")
    assert frame_path(Path("v.png"), 999, 1000) == Path("v.frame999.png")
    names = [frame_path(Path("cine.seg.nrrd"), k, 1001).name for k in (1000, 2, 10)]
    assert names[0] == "cine.frame1000.seg.nrrd" and sorted(names) == [names[1], names[2], names[0]]


@pytest.mark.parametrize("kind", ["nrrd", "nifti"])
def test_each_4d_file_is_decoded_once_for_all_its_frames(tiny_folder, frames, tmp_path, capsys, monkeypatch, kind):
    """--frame all keeps the decoded file for its next frames (before: one whole decode per frame), then lets it go."""
    import SDSegLogic.io._nifti_voxels as nifti_voxels
    from SDSegLogic.io import frame_cache

    calls = []
    if kind == "nrrd":
        source = _write_4d_nrrd(tmp_path / "cine.nrrd", frames)
        real = nrrd.read
        monkeypatch.setattr(nrrd, "read", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    else:
        source = _write_4d_nifti(tmp_path / "cine.nii.gz", frames)
        real = nifti_voxels.read_nifti_voxels  # NumPy's decode, or ITK's when the header needs it: count both
        monkeypatch.setattr(nifti_voxels, "read_nifti_voxels", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
        execute = sitk.ImageFileReader.Execute
        monkeypatch.setattr(sitk.ImageFileReader, "Execute", lambda self: calls.append("itk") or execute(self))
    out = tmp_path / "out"
    code, _, err = run(["segment", source, "-o", f"{out}/", "--frame", "all", "--model", tiny_folder, "--quiet"], capsys)
    assert code == 0, err
    assert len(calls) == 1, f"decoded {len(calls)} times for 3 frames"
    assert frame_cache._LAST.value is None and not frame_cache._LAST.enabled  # nothing kept after the run
    for k in range(3):  # the kept decode gives the frames a --frame k run reads; --frame k keeps nothing
        np.testing.assert_array_equal(_labels(out / f"cine.frame{k:03d}.seg.nrrd"),
                                      _single_frame_labels(source, k, tmp_path, tiny_folder, capsys))
        assert frame_cache._LAST.value is None
