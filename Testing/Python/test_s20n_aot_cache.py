"""The AOT package cache: a broken package is built again, never left broken; other slice sizes run eagerly.

``apply_compile_policy("aot")`` asks :func:`SDSegLogic.compiled.missing_packages` which packages to
build in a child process; a package file that exists but is not a whole package (cut short by a
full disk, overwritten) used to count as present, so no child ran, the parent failed to load it,
said "rebuilding" without rebuilding, and every later run stayed eager. Builds the tiny model's
packages with the real AOTInductor toolchain (about a minute on a 2-core CPU).
"""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.pipeline import SDSegPipeline

from cli_test_helpers import make_model_folder
from engine_test_helpers import random_slices


def _statuses(pipe: SDSegPipeline) -> dict:
    return {k: v["status"] for k, v in pipe.compile_summary.items() if isinstance(v, dict)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A model folder and an $SDSEG_HOME whose compiled cache holds the folder's packages."""
    home = tmp_path_factory.mktemp("home")
    folder = make_model_folder(tmp_path_factory.mktemp("model") / "tiny-test")
    pipe = SDSegPipeline.from_pretrained(folder, device="cpu").compile(backend="aot", cache_dir=home / "compiled")
    assert set(_statuses(pipe).values()) == {"built"}, pipe.compile_summary
    return folder, home


@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_policy_aot_rebuilds_a_broken_cached_package(built, monkeypatch, damage):
    folder, home = built
    monkeypatch.setenv("SDSEG_HOME", str(home))
    decoder = next((home / "compiled").glob("decoder-*.pt2"))
    whole = decoder.read_bytes()
    decoder.write_bytes(b"not a package" if damage == "overwritten" else whole[: len(whole) // 2])
    lines = []
    pipe = SDSegPipeline.from_pretrained(folder, device="cpu").apply_compile_policy("aot", report=lines.append)
    assert pipe.compile_summary.get("child_exit_code") == 0, "\n".join(lines)
    assert set(_statuses(pipe).values()) == {"loaded"}, pipe.compile_summary
    images = random_slices(64, size=32, seed=3)  # 64 rows: the compiled decoder runs
    eager = SDSegPipeline.from_pretrained(folder, device="cpu")(images, seed=0)
    assert (pipe(images, seed=0).probabilities - eager.probabilities).abs().max().item() < 1e-5
    assert pipe.model.autoencoder.decoder.compiled_calls >= 1


def test_a_package_that_does_not_load_without_building_is_reported_failed(built):
    """No building (``--compile auto``): the broken package is reported as failed, not as missing, and kept."""
    folder, home = built
    decoder = next((home / "compiled").glob("decoder-*.pt2"))
    decoder.write_bytes(b"not a package")
    pipe = SDSegPipeline.from_pretrained(folder, device="cpu").compile(backend="aot", cache_dir=home / "compiled",
                                                                       build=False)
    statuses = _statuses(pipe)
    assert statuses["decoder"].startswith("failed: cached package did not load"), pipe.compile_summary
    assert statuses["unet"] == statuses["condition_encoder"] == "loaded"
    assert decoder.read_bytes() == b"not a package"


def test_slices_of_another_size_run_eagerly_not_into_the_package(built):
    """The pipeline takes any slice size that is a multiple of its input multiple; the packages cover one size."""
    folder, home = built
    pipe = SDSegPipeline.from_pretrained(folder, device="cpu").compile(backend="aot", cache_dir=home / "compiled",
                                                                       build=False)
    assert _statuses(pipe)["unet"] == "loaded", pipe.compile_summary
    size = 2 * pipe.sample_size
    images = random_slices(64, size=size, seed=4)  # 64 rows: enough for the packages, but not their size
    eager = SDSegPipeline.from_pretrained(folder, device="cpu")(images, seed=0)
    out = pipe(images, seed=0)
    assert out.probabilities.shape[-2:] == (size, size)
    assert torch.equal(out.probabilities, eager.probabilities)
    assert pipe.model.unet.compiled_calls == 0 and pipe.model.unet.eager_calls >= 1
