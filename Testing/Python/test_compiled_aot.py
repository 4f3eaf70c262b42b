"""Ahead-of-time compiled networks (torch.export + AOTInductor): same outputs, cached, safe reuse.

The build test compiles the tiny model's three networks with the real AOTInductor C++ toolchain
(about a minute on a 2-core CPU); everything else reuses its cache.
"""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.compiled import MIN_ROWS, missing_packages, package_paths, weights_fingerprint
from SDSegLogic.errors import ConfigError
from SDSegLogic.pipeline import SDSegPipeline

from engine_test_helpers import random_slices, tiny_card, tiny_model

CLASSES = 3


def _pipe(**kwargs) -> SDSegPipeline:
    return SDSegPipeline(tiny_model(num_classes=CLASSES, seed=3), tiny_card(num_classes=CLASSES), device="cpu",
                         channels_last=True, **kwargs)


def _statuses(pipe: SDSegPipeline) -> dict:
    return {k: v["status"] for k, v in pipe.compile_summary.items() if isinstance(v, dict)}


@pytest.fixture(scope="module")
def aot_cache(tmp_path_factory):
    """A cache with the tiny 3-class model's packages, built once for the module."""
    folder = tmp_path_factory.mktemp("aot-cache")
    pipe = _pipe().compile(backend="aot", cache_dir=folder)
    return folder, pipe


def test_fingerprint_is_stable_and_sees_any_weight_change():
    a, b = tiny_model(seed=1), tiny_model(seed=1)
    assert weights_fingerprint(a) == weights_fingerprint(b)
    with torch.no_grad():
        b.unet.conv_out.bias[0] += 1e-3
    assert weights_fingerprint(a) != weights_fingerprint(b)
    assert weights_fingerprint(a.unet) != weights_fingerprint(a.condition_encoder)


def test_aot_packages_reproduce_the_eager_pipeline(aot_cache):
    folder, compiled = aot_cache
    assert set(_statuses(compiled).values()) == {"built"}, compiled.compile_summary
    images = random_slices(MIN_ROWS, size=32, seed=5)  # 64 slices: every network gets >= 64 rows
    eager = _pipe()(images, seed=4)
    out = compiled(images, seed=4)
    assert (out.probabilities - eager.probabilities).abs().max().item() < 1e-5
    assert torch.equal(out.labels, eager.labels)
    for network in (compiled.model.condition_encoder, compiled.model.unet, compiled.model.autoencoder.decoder):
        assert network.compiled_calls >= 1 and network.eager_calls == 0
    assert len(list(folder.glob("*.pt2"))) == 3 and not list(folder.glob(".*partial*"))


def test_second_process_loads_packages_and_small_calls_run_eagerly(aot_cache):
    folder, _ = aot_cache
    pipe = _pipe().compile(backend="aot", cache_dir=folder)
    assert set(_statuses(pipe).values()) == {"loaded"}
    setup = (pipe.device, pipe.dtype, pipe.unet_dtype, pipe.channels_last)
    paths = package_paths(_pipe().model, *setup, cache_dir=folder)  # the keys a caller computes once
    assert {name: str(path) for name, path in paths.items()} == {
        name: entry["path"] for name, entry in pipe.compile_summary.items() if isinstance(entry, dict)}
    assert missing_packages(_pipe().model, *setup, cache_dir=folder, paths=paths) == []
    few = random_slices(5, size=32, seed=6)  # 5 slices x 3 classes = 15 rows < 64: eager path
    out = pipe(few, seed=1)
    reference = _pipe()(few, seed=1)
    assert torch.allclose(out.probabilities, reference.probabilities, atol=1e-6)
    assert pipe.model.unet.eager_calls == 1 and pipe.model.unet.compiled_calls == 0


def test_other_weights_never_reuse_a_package(aot_cache):
    folder, _ = aot_cache
    other = SDSegPipeline(tiny_model(num_classes=CLASSES, seed=4), tiny_card(num_classes=CLASSES), device="cpu",
                          channels_last=True).compile(backend="aot", cache_dir=folder, build=False)
    assert set(_statuses(other).values()) == {"missing"}
    fresh = SDSegPipeline(tiny_model(num_classes=CLASSES, seed=4), tiny_card(num_classes=CLASSES), device="cpu",
                          channels_last=True)
    setup = (fresh.device, fresh.dtype, fresh.unet_dtype, fresh.channels_last)
    paths = package_paths(fresh.model, *setup, cache_dir=folder)
    assert {str(path) for path in paths.values()} == {entry["path"] for entry in other.compile_summary.values()
                                                     if isinstance(entry, dict)}
    assert sorted(missing_packages(fresh.model, *setup, cache_dir=folder, paths=paths)) == sorted(paths)
    images = random_slices(MIN_ROWS, size=32, seed=2)
    reference = SDSegPipeline(tiny_model(num_classes=CLASSES, seed=4), tiny_card(num_classes=CLASSES), device="cpu")
    assert torch.allclose(other(images, seed=0).probabilities, reference(images, seed=0).probabilities, atol=1e-5)


def test_a_corrupt_package_is_rebuilt_not_used(aot_cache):
    folder, _ = aot_cache
    decoder = next(folder.glob("decoder-*.pt2"))
    decoder.write_bytes(b"not a package")
    pipe = _pipe().compile(backend="aot", cache_dir=folder)
    assert _statuses(pipe) == {"condition_encoder": "loaded", "unet": "loaded", "decoder": "built"}
    images = random_slices(MIN_ROWS, size=32, seed=8)
    assert (pipe(images, seed=0).probabilities - _pipe()(images, seed=0).probabilities).abs().max().item() < 1e-5


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ConfigError, match="inductor"):
        _pipe().compile(backend="tensorrt")


def _folder(tmp_path_factory):
    from cli_test_helpers import make_model_folder

    return make_model_folder(tmp_path_factory.mktemp("aot-folder") / "tiny-test")


def test_policy_aot_builds_in_a_child_process_then_loads(tmp_path_factory, monkeypatch):
    """``--compile aot`` on a model folder: the packages are built by ``python -m SDSegLogic.compiled``."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("SDSEG_HOME", str(home))
    folder = _folder(tmp_path_factory)
    lines = []
    pipe = SDSegPipeline.from_pretrained(folder, device="cpu").apply_compile_policy("aot", report=lines.append)
    assert pipe.compile_summary["child_exit_code"] == 0, "\n".join(lines)
    assert set(_statuses(pipe).values()) == {"loaded"}
    assert any("child process" in line for line in lines)
    assert len(list((home / "compiled").glob("*.pt2"))) == 3
    images = random_slices(MIN_ROWS, size=32, seed=9)
    eager = SDSegPipeline.from_pretrained(folder, device="cpu")(images, seed=0)
    assert (pipe(images, seed=0).probabilities - eager.probabilities).abs().max().item() < 1e-5


def test_a_crash_while_compiling_leaves_the_engine_eager(tmp_path_factory, tmp_path, monkeypatch):
    """The compile child is killed by a signal (as by an out-of-memory killer): the caller goes on eagerly."""
    import sys

    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))
    crash = tmp_path / "crash.sh"
    crash.write_text("#!/bin/sh\necho compiling...\nkill -9 $$\n")
    crash.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(crash))
    folder = _folder(tmp_path_factory)
    lines = []
    pipe = SDSegPipeline.from_pretrained(folder, device="cpu").apply_compile_policy("aot", report=lines.append)
    assert pipe.compile_summary["child_exit_code"] == -9
    assert set(_statuses(pipe).values()) == {"missing"} and pipe.compiled_rows is None
    assert any("exited with code -9" in line for line in lines)
    images = random_slices(4, size=32, seed=1)
    reference = SDSegPipeline.from_pretrained(folder, device="cpu")(images, seed=0)
    assert torch.equal(pipe(images, seed=0).probabilities, reference.probabilities)
