"""``sdseg segment`` end to end with a tiny real model (random weights, CT window) on real CT slices."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_segment_fixtures import SAMPLE_CT, crop, events, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)
from cli_test_helpers import FailsOnConstantSlices, copy_model, entry, write_registry

from SDSegLogic.cli import build_parser
from SDSegLogic.cli_segment import run_segment
from SDSegLogic.errors import CancelledError

sitk = pytest.importorskip("SimpleITK")

REPO = Path(__file__).resolve().parents[2]


def _same_grid(a, b) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)


def test_one_input_with_every_output(tiny_folder, crop, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = run(["segment", crop, "-o", out / "seg.seg.nrrd", "--model", tiny_folder, "--prob-map",
                                out / "p.nrrd", "--uncertainty", out / "u.nii.gz", "--samples", "2", "--preview",
                                out / "v.png", "--slices", "1:3", "--batch-size", "1", "--device", "cpu", "--quiet"], capsys)
    assert code == 0, stderr
    assert stdout == "" and stderr == ""
    reference = sitk.ReadImage(str(crop))
    seg = sitk.ReadImage(str(out / "seg.seg.nrrd"))
    _same_grid(seg, reference)
    labels = sitk.GetArrayFromImage(seg)
    assert set(np.unique(labels)) <= {0, 1}
    prob = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "p.nrrd")))
    var = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "u.nii.gz")))
    assert prob.dtype == np.float32 and 0.0 <= prob.min() and prob.max() <= 1.0
    assert not prob[[0, 3]].any() and not labels[[0, 3]].any()  # outside --slices 1:3
    assert prob[1:3].max() > 0 and var.min() >= 0 and var[1:3].max() > 0
    np.testing.assert_array_equal(labels, (prob > 0.5).astype(labels.dtype))
    header = (out / "seg.seg.nrrd").read_bytes()[:4000]
    assert b"Segment0_Name:=liver" in header
    from PIL import Image

    assert Image.open(out / "v.png").format == "PNG"


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".mha"])
def test_labelmap_formats_keep_the_input_grid(suffix, tiny_folder, crop, tmp_path, capsys):
    target = tmp_path / f"labels{suffix}"
    code, _, err = run(["segment", crop, "-o", target, "--model", tiny_folder, "--quiet"], capsys)
    assert code == 0, err
    _same_grid(sitk.ReadImage(str(target)), sitk.ReadImage(str(crop)))


def test_json_stream_is_one_event_per_line_in_order(tiny_folder, crop, tmp_path, capsys):
    code, out, err = run(["segment", crop, "-o", tmp_path / "o.seg.nrrd", "--model", tiny_folder, "--json",
                          "--batch-size", "2"], capsys)
    assert code == 0 and err == ""
    stream = events(out)
    assert [e["event"] for e in stream] == ["start", "progress", "progress", "progress", "volume_done", "done"]
    assert all(e["format_version"] == 1 for e in stream)
    start, progress, done = stream[0], stream[1:4], stream[-1]
    assert start["model"] == "tiny-test" and start["model_version"] == "1.0.0" and start["device"] == "cpu"
    assert [p["done"] for p in progress] == [0, 2, 4] and {p["total"] for p in progress} == {4}
    assert "eta_s" not in progress[0]  # no prior for a bare folder, nothing measured yet
    assert progress[1]["eta_s"] >= 0 and progress[2]["eta_s"] == 0
    assert all(p["volume"] == 1 and p["volumes"] == 1 and p["input"] == str(crop) for p in progress)
    finished = stream[4]
    assert Path(finished["outputs"]["segmentation"]).is_file() and set(finished["voxel_counts"]) == {"liver"}
    assert done["exit_code"] == 0 and done["outputs"] == {str(crop): str(tmp_path / "o.seg.nrrd")}


def test_registry_timing_gives_an_eta_before_the_first_batch(tiny_folder, crop, tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    copy_model(tiny_folder, repo / "Models" / "tiny-test")
    registry = write_registry(repo / "Resources" / "models.json", [entry(cpu_seconds_per_slice=0.5)])
    monkeypatch.setenv("SDSEG_REGISTRY", str(registry))
    code, out, err = run(["segment", crop, "-o", tmp_path / "o.seg.nrrd", "--model", "tiny-test", "--samples", "2",
                          "--json"], capsys)
    assert code == 0, err
    first = events(out)[1]
    assert first["event"] == "progress" and first["done"] == 0
    assert 2.0 < first["eta_s"] <= 4.0  # 0.5 s x 2 samples x 4 slices, minus the time spent reading


def test_several_inputs_share_one_model_load_and_go_on_after_a_bad_input(tiny_folder, crop, tmp_path, capsys):
    from SDSegLogic.pipeline import SDSegPipeline

    second = tmp_path / "second.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(crop)), str(second))
    bad = tmp_path / "broken.nrrd"
    bad.write_text("this is not an image")
    loads = []

    def counting_loader(folder, device):
        loads.append(folder)
        return SDSegPipeline.from_pretrained(folder, device=device)

    args = build_parser().parse_args([str(a) for a in ["segment", crop, bad, second, "-o", tmp_path / "out", "--model",
                                                       tiny_folder, "--format", "nii.gz", "--json"]])
    code = run_segment(args, loader=counting_loader)
    stream = events(capsys.readouterr().out)
    assert code == 3 and len(loads) == 1
    assert (tmp_path / "out" / "crop.nii.gz").is_file() and (tmp_path / "out" / "second.nii.gz").is_file()
    assert not (tmp_path / "out" / "broken.nii.gz").exists()
    error = next(e for e in stream if e["event"] == "error")
    assert error["volume"] == 2 and error["input"] == str(bad) and error["exit_code"] == 3
    assert [e["volume"] for e in stream if e["event"] == "volume_done"] == [1, 3]
    assert stream[-1]["event"] == "done" and len(stream[-1]["outputs"]) == 2 and stream[-1]["exit_code"] == 3


def _probabilities(tiny_folder, crop, tmp_path, capsys, *options) -> np.ndarray:
    target = tmp_path / f"p{len(list(tmp_path.glob('p*.nrrd')))}.nrrd"
    code, _, err = run(["segment", crop, "-o", tmp_path / "o.seg.nrrd", "--model", tiny_folder, "--prob-map", target,
                        "--quiet", *options], capsys)
    assert code == 0, err
    return sitk.GetArrayFromImage(sitk.ReadImage(str(target)))


def test_seed_batch_size_and_steps(tiny_folder, crop, tmp_path, capsys):
    base = _probabilities(tiny_folder, crop, tmp_path, capsys, "--seed", "7", "--batch-size", "4")
    again = _probabilities(tiny_folder, crop, tmp_path, capsys, "--seed", "7", "--batch-size", "1")
    other_seed = _probabilities(tiny_folder, crop, tmp_path, capsys, "--seed", "8", "--batch-size", "4")
    ddim = _probabilities(tiny_folder, crop, tmp_path, capsys, "--seed", "7", "--steps", "3")
    np.testing.assert_allclose(again, base, atol=1e-5)  # the batch size never changes the result
    assert np.abs(other_seed - base).max() > 1e-3
    assert np.abs(ddim - base).max() > 1e-3


def test_people_see_a_bar_with_eta_and_a_summary(tiny_folder, crop, tmp_path, capsys):
    code, out, err = run(["segment", crop, "-o", tmp_path / "o.seg.nrrd", "--model", tiny_folder], capsys)
    assert code == 0
    assert "[1/1] crop.nrrd: |" in err and "ETA" in err and "done in" in err
    assert out.startswith("segmented 1 of 1 input(s) with tiny-test 1.0.0")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda_exits_7(tiny_folder, crop, tmp_path, capsys):
    code, _, err = run(["segment", crop, "-o", tmp_path / "o.seg.nrrd", "--model", tiny_folder, "--device", "cuda"], capsys)
    assert code == 7 and "CUDA is not available" in err


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child process")
def test_sigint_cancels_with_exit_5_and_writes_nothing(tiny_folder, tmp_path):
    target = tmp_path / "o.seg.nrrd"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "SDSegLogic", "segment", str(SAMPLE_CT), "-o", str(target), "--model",
                             str(tiny_folder), "--batch-size", "1", "--steps", "4", "--json"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(json.loads(line))
            if lines[-1]["event"] == "progress" and lines[-1]["done"] >= 1:
                proc.send_signal(signal.SIGINT)
                break
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    lines += [json.loads(line) for line in rest.splitlines()]
    assert proc.returncode == 5, err
    assert lines[-1]["event"] == "error" and lines[-1]["exit_code"] == 5 and "cancelled" in lines[-1]["message"]
    assert not target.exists() and not list(tmp_path.glob(".*"))


def test_precision_and_fast_decoder_options(tiny_folder, crop, tmp_path, capsys):
    """--precision mixed runs (and warns where bf16 is emulated); --fast-decoder on a model without one is a model
    error (exit 4)."""
    from SDSegLogic.device import cpu_has_native_bf16

    code, out, _ = run(["segment", str(crop), "-o", str(tmp_path / "a.seg.nrrd"), "--model", str(tiny_folder),
                        "--precision", "mixed", "--json"], capsys)
    assert code == 0 and (tmp_path / "a.seg.nrrd").is_file()
    start = next(e for e in map(json.loads, out.splitlines()) if e["event"] == "start")
    assert ("warnings" in start) != cpu_has_native_bf16()
    if "warnings" in start:
        assert "use --precision auto" in start["warnings"][0]
    code, _, err = run(["segment", str(crop), "-o", str(tmp_path / "b.seg.nrrd"), "--model", str(tiny_folder),
                        "--fast-decoder", "--quiet"], capsys)
    assert code == 4 and "fast decoder" in err
    assert not (tmp_path / "b.seg.nrrd").exists()


def test_compile_option_auto_stays_eager_on_cpu_and_off_is_accepted(tiny_folder, crop, tmp_path, capsys):
    """--compile auto never builds on the CPU (no cache written); --compile off is plain eager; both equal."""
    outputs = []
    for policy in ("auto", "off"):
        target = tmp_path / f"{policy}.seg.nrrd"
        code, _, err = run(["segment", str(crop), "-o", str(target), "--model", str(tiny_folder), "--compile", policy,
                            "--quiet"], capsys)
        assert code == 0, err
        outputs.append(sitk.GetArrayFromImage(sitk.ReadImage(str(target))))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not (Path(os.environ["SDSEG_HOME"]) / "compiled").exists()
    code, _, err = run(["segment", str(crop), "-o", str(tmp_path / "x.seg.nrrd"), "--model", str(tiny_folder),
                        "--compile", "jit"], capsys)
    assert code == 2 and "--compile" in err


# ---------------------------------------------------------------------- options that error messages suggest
def _labels(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_nan_policy_fill_suggested_by_the_error_works(tiny_folder, crop, tmp_path, capsys):
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(crop))).astype(np.float32)
    array[1, 2, 3] = np.nan
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(sitk.ReadImage(str(crop)))
    nan_input = tmp_path / "nan.nrrd"
    sitk.WriteImage(image, str(nan_input))
    argv = ["segment", nan_input, "-o", tmp_path / "o.seg.nrrd", "--model", tiny_folder]
    code, _, err = run(argv + ["--quiet"], capsys)
    assert code == 3 and "sdseg segment --nan-policy fill" in err
    code, out, err = run(argv + ["--nan-policy", "fill", "--json"], capsys)
    assert code == 0, err
    finished = next(e for e in events(out) if e["event"] == "volume_done")
    assert any("replaced 1 NaN/infinite voxel value(s)" in w for w in finished["warnings"])
    assert _labels(tmp_path / "o.seg.nrrd").shape == array.shape


def test_frame_suggested_by_the_error_works(tiny_folder, crop, tmp_path, capsys):
    volume = sitk.ReadImage(str(crop))
    blank = sitk.Image(volume.GetSize(), volume.GetPixelID()) - 1000
    blank.CopyInformation(volume)
    four_d, three_d = tmp_path / "t2.nii.gz", tmp_path / "frame1.nii.gz"
    sitk.WriteImage(sitk.JoinSeries([blank, volume]), str(four_d))
    sitk.WriteImage(volume, str(three_d))
    argv = ["segment", four_d, "-o", tmp_path / "o.nrrd", "--model", tiny_folder, "--quiet"]
    code, _, err = run(argv, capsys)
    assert code == 3 and "frame=0..1 (--frame N; --frame all: every frame)" in err
    code, _, err = run(argv + ["--frame", "1"], capsys)
    assert code == 0, err
    reference = tmp_path / "reference.nrrd"
    code, _, err = run(["segment", three_d, "-o", reference, "--model", tiny_folder, "--quiet"], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(_labels(tmp_path / "o.nrrd"), _labels(reference))
    code, _, err = run(argv + ["--frame", "2"], capsys)
    assert code == 3 and "frame=2 is out of range" in err


def test_series_option_reads_the_chosen_dicom_series(tiny_folder, tmp_path, capsys):
    pytest.importorskip("pydicom")
    from io_test_helpers import write_dicom_series

    from SDSegLogic.geometry import ImageGeometry

    folder = tmp_path / "dicom"
    folder.mkdir()
    for uid, slices in (("1.2.826.0.1.3680043.2.1125.7", 4), ("1.2.826.0.1.3680043.2.1125.8", 2)):
        array = np.full((slices, 32, 32), -1000.0, dtype=np.float32)
        array[:, 8:20, 10:22] = 60.0
        write_dicom_series(folder, array, ImageGeometry((1, 1, 2), (0, 0, 0), np.eye(3), (32, 32, slices)),
                           series_uid=uid, prefix=f"s{slices}")
    argv = ["segment", folder, "-o", tmp_path / "o.nrrd", "--model", tiny_folder, "--quiet"]
    code, _, err = run(argv, capsys)
    assert code == 0 and _labels(tmp_path / "o.nrrd").shape == (4, 32, 32)  # the largest series by default
    code, _, err = run(argv + ["--series", "1.2.826.0.1.3680043.2.1125.8"], capsys)
    assert code == 0, err
    assert _labels(tmp_path / "o.nrrd").shape == (2, 32, 32)
    code, _, err = run(argv + ["--series", "1.2.3"], capsys)
    assert code == 3 and "series '1.2.3' not found" in err


def test_photo_given_to_a_ct_model_warns_and_strict_refuses(tiny_folder, tmp_path, capsys):
    from PIL import Image

    grey = np.zeros((32, 32), np.uint8)
    grey[8:20, 10:22] = 200
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "colour.png")
    target = tmp_path / "grey.seg.nrrd"
    code, out, err = run(["segment", tmp_path / "grey.png", "-o", target, "--model", tiny_folder, "--json"], capsys)
    assert code == 0, err
    finished = next(e for e in events(out) if e["event"] == "volume_done")
    expected = "grey.png: the model was trained on CT images but the input is a 2-D picture"
    assert any(expected in w and "meaningless" in w for w in finished["warnings"])
    assert expected.encode() in target.read_bytes()[:4000]  # SDSeg_Warnings in the .seg.nrrd header
    target.unlink()
    strict = ["-o", target, "--model", tiny_folder, "--strict", "--quiet"]
    code, _, err = run(["segment", tmp_path / "grey.png", *strict], capsys)
    assert code == 3 and "trained on CT images" in err and "refused because strict" in err
    code, _, err = run(["segment", tmp_path / "colour.png", *strict], capsys)
    assert code == 3 and "refused because strict checking is on (sdseg segment --strict" in err
    assert not target.exists()


# ---------------------------------------------------------------------- one failed input does not stop a batch
def test_an_unexpected_error_in_one_input_is_reported_and_the_others_go_on(tiny_folder, crop, tmp_path, capsys):
    from SDSegLogic.pipeline import SDSegPipeline

    blank = tmp_path / "blank.nrrd"
    volume = sitk.ReadImage(str(crop))
    constant = sitk.Image(volume.GetSize(), volume.GetPixelID()) - 1000
    constant.CopyInformation(volume)
    sitk.WriteImage(constant, str(blank))
    second = tmp_path / "second.nii.gz"
    sitk.WriteImage(volume, str(second))

    def args_for(out: Path):
        return build_parser().parse_args([str(a) for a in ["segment", crop, blank, second, "-o", out, "--model",
                                                           tiny_folder, "--json", "--debug"]])

    def loader_raising(error):
        return lambda folder, device: FailsOnConstantSlices(SDSegPipeline.from_pretrained(folder, device=device), error)

    code = run_segment(args_for(tmp_path / "out"), loader=loader_raising(RuntimeError("CUDA error: illegal address")))
    captured = capsys.readouterr()
    stream = events(captured.out)
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["crop.seg.nrrd", "second.seg.nrrd"]
    error = next(e for e in stream if e["event"] == "error")
    assert error["volume"] == 2 and error["input"] == str(blank) and error["exit_code"] == 1
    assert "RuntimeError: CUDA error: illegal address" in error["message"] and "unexpected" in error["message"]
    assert [e["volume"] for e in stream if e["event"] == "volume_done"] == [1, 3]
    assert stream[-1]["event"] == "done" and stream[-1]["exit_code"] == 1
    assert "Traceback" in captured.err and str(blank) in captured.err  # --debug: the traceback, naming the input

    for stop in (CancelledError("cancelled by the user"), KeyboardInterrupt()):  # cancelling still stops everything
        out = tmp_path / f"out-{type(stop).__name__}"
        with pytest.raises(type(stop)):
            run_segment(args_for(out), loader=loader_raising(stop))
        capsys.readouterr()
        assert sorted(p.name for p in out.iterdir()) == ["crop.seg.nrrd"]
