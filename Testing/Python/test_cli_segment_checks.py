"""Checks of ``sdseg segment``: the memory check before segmenting and ``--steps`` beyond the model.

A tiny real 4-class model (random weights, CT window) on 4 real CT slices.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, events, isolated_home, run  # noqa: F401 (fixtures)
from cli_test_helpers import make_model_folder

from SDSegLogic.io import read_image
from SDSegLogic.model_folder import load_model_folder
from SDSegLogic.segment import plan_segmentation

pytest.importorskip("SimpleITK")


@pytest.fixture(scope="module")
def multi_folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "tiny-multi", num_classes=4)


def _estimates(crop: Path, folder: Path, samples: int) -> tuple:
    """Memory estimates (with, without the soft maps / variance) of segmenting ``crop`` as the command does."""
    image = read_image(crop)
    _, card = load_model_folder(folder, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_maps = plan_segmentation(image.array.shape, image.geometry, card, model_size=32, batch_size=3,
                                      num_samples=samples, keep_probabilities=samples == 1,
                                      collapse_classes=True)  # the command keeps only the written map
        # one sample and no soft maps: what segmenting needs without the soft maps and the variance
        without = plan_segmentation(image.array.shape, image.geometry, card, model_size=32, batch_size=3,
                                    keep_probabilities=False)
    return with_maps.estimated_bytes, without.estimated_bytes


@pytest.mark.parametrize("option, samples", [("--prob-map", 1), ("--uncertainty", 2)])
def test_memory_budget_counts_soft_maps_and_variance_only_when_written(option, samples, multi_folder, crop, tmp_path,
                                                                       capsys, monkeypatch):
    """A volume that fits without the soft maps (or the variance) is segmented; it used to be refused."""
    with_maps, without = _estimates(crop, multi_folder, samples)
    assert without < with_maps
    monkeypatch.setenv("SDSEG_MAX_BYTES", str((with_maps + without) // 2))
    base = ["segment", crop, "--model", multi_folder, "--device", "cpu", "--batch-size", "3", "--samples", samples,
            "--json"]
    code, out, err = run(base + ["-o", tmp_path / "a.seg.nrrd"], capsys)
    assert code == 0, err
    assert (tmp_path / "a.seg.nrrd").is_file()
    code, out, err = run(base + ["-o", tmp_path / "b.seg.nrrd", option, tmp_path / "b.extra.nrrd"], capsys)
    assert code == 3
    error = [e for e in events(out) if e["event"] == "error"][0]
    assert "crop.nrrd" in error["message"] and "SDSEG_MAX_BYTES" in error["message"]
    assert not (tmp_path / "b.seg.nrrd").exists() and not (tmp_path / "b.extra.nrrd").exists()


def test_variance_is_not_kept_when_not_asked_for(multi_folder, crop):
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.segment import segment_array

    pipe = SDSegPipeline.from_pretrained(multi_folder, device="cpu")
    image = read_image(crop)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = segment_array(image.array, image.geometry, pipe, num_samples=2, slices=(1, 3), batch_size=2, seed=4)
        dropped = segment_array(image.array, image.geometry, pipe, num_samples=2, slices=(1, 3), batch_size=2, seed=4,
                                keep_variance=False)
    assert kept.variance is not None and dropped.variance is None
    assert (kept.labels == dropped.labels).all() and (kept.probabilities == dropped.probabilities).all()
    assert dropped.plan.estimated_bytes < kept.plan.estimated_bytes


def test_a_single_input_with_a_folder_output_names_the_folder_not_several_inputs(multi_folder, crop, tmp_path, capsys):
    code, out, err = run(["segment", crop, "-o", f"{tmp_path}/", "--model", multi_folder, "--prob-map",
                          tmp_path / "p.nrrd"], capsys)
    assert code == 2
    assert "several inputs" not in err and "is a folder" in err and "--prob-map" in err


def test_steps_beyond_the_model_timesteps_is_a_usage_error_before_any_input(multi_folder, crop, tmp_path, capsys):
    code, out, err = run(["segment", crop, "-o", tmp_path / "a.seg.nrrd", "--model", multi_folder, "--device", "cpu",
                          "--steps", "1001"], capsys)
    assert code == 2, err
    assert "--steps 1001" in err and "at most 1000" in err and "unexpected" not in err
    assert "[1/1]" not in err  # refused once for the run, not per input
    assert not (tmp_path / "a.seg.nrrd").exists()


def test_a_slice_range_past_the_end_is_named_as_given(multi_folder, crop, tmp_path, capsys):
    """``--slices 10:20`` on 4 slices used to be reported as the range "4:4"."""
    code, out, err = run(["segment", crop, "-o", tmp_path / "a.seg.nrrd", "--model", multi_folder, "--device", "cpu",
                          "--slices", "10:20", "--quiet"], capsys)
    assert code == 3
    assert "slice range 10:20 holds no slice" in err and "4 slice(s), indices 0..3" in err
    assert not (tmp_path / "a.seg.nrrd").exists()


def test_a_seed_beyond_64_bits_is_a_usage_error_not_an_unexpected_one(multi_folder, crop, tmp_path, capsys):
    code, out, err = run(["segment", crop, "-o", tmp_path / "a.seg.nrrd", "--model", multi_folder, "--device", "cpu",
                          "--seed", str(2**64)], capsys)
    assert code == 2, err
    assert "--seed" in err and "64 bits" in err and "unexpected" not in err
