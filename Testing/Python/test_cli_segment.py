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
from cli_test_helpers import copy_model, entry, make_model_folder, write_registry

from SDSegLogic.cli import build_parser, main
from SDSegLogic.cli_segment import run_segment

sitk = pytest.importorskip("SimpleITK")

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CT = REPO / "Resources" / "Samples" / "ct-chest-abdomen.nrrd"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "sdseg-home"))
    monkeypatch.delenv("SDSEG_REGISTRY", raising=False)
    return tmp_path / "sdseg-home" / "models"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "tiny-test")


@pytest.fixture(scope="module")
def crop(tmp_path_factory) -> Path:
    """Slices 30..33 of the bundled CT (4 x 208 x 256 voxels, real geometry)."""
    path = tmp_path_factory.mktemp("input") / "crop.nrrd"
    sitk.WriteImage(sitk.ReadImage(str(SAMPLE_CT))[:, :, 30:34], str(path), True)
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def events(out: str) -> list:
    return [json.loads(line) for line in out.splitlines()]


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


def test_unwritable_output_exits_6(tiny_folder, crop, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run(["segment", crop, "-o", blocker / "o.seg.nrrd", "--model", tiny_folder, "--json"], capsys)
    assert code == 6, err
    error = next(e for e in events(out) if e["event"] == "error")
    assert error["exit_code"] == 6 and "a-file" in error["message"] and "writable" in error["message"]


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
