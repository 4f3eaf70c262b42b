"""Model folders: bit-exact round trips, fp16 variant, shared autoencoder, corrupt files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from SDSegLogic.errors import CheckpointError, ConfigError, ModelCardError, WeightsMismatchError
from SDSegLogic.model_folder import load_model_folder, save_model_folder, sha256_file, verify_model_folder
from SDSegLogic.pipeline import SDSegPipeline
from SDSegLogic.weight_hashes import BackgroundVerification, default_hash_workers

from engine_test_helpers import random_slices, tiny_card, tiny_model


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_and_load_round_trip_bit_exactly(tmp_path):
    model = tiny_model()
    folder = save_model_folder(tmp_path / "m", model, tiny_card())
    loaded, card = load_model_folder(folder)
    assert _same_weights(model, loaded)
    assert loaded.config == model.config
    assert card.model_id == "tiny-test"
    assert set(card.weights) == {"unet.safetensors", "condition_encoder.safetensors", "autoencoder.safetensors"}
    for name, digest in card.weights.items():
        assert sha256_file(folder / name) == digest
    assert verify_model_folder(folder) == []


def test_pretrained_pipeline_predicts_like_the_original(tmp_path):
    model = tiny_model()
    folder = save_model_folder(tmp_path / "m", model, tiny_card())
    x = random_slices(2)
    direct = SDSegPipeline(model, tiny_card(), device="cpu")(x, seed=0).probabilities
    loaded = SDSegPipeline.from_pretrained(folder, device="cpu")(x, seed=0).probabilities
    assert torch.equal(direct, loaded)


def test_fp16_variant_round_trips_bit_exactly_in_fp16(tmp_path):
    model = tiny_model()
    folder = save_model_folder(tmp_path / "m", model, tiny_card(), variant="fp16")
    assert (folder / "unet.fp16.safetensors").is_file()
    loaded, _ = load_model_folder(folder, dtype=torch.float16)
    half = tiny_model().half()
    half.load_state_dict({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    assert _same_weights(half, loaded)
    upcast, _ = load_model_folder(folder)  # default: float32 on the CPU
    assert next(upcast.parameters()).dtype == torch.float32


def test_shared_autoencoder_is_referenced_not_copied(tmp_path):
    model = tiny_model()
    first = save_model_folder(tmp_path / "a", model, tiny_card())
    second = save_model_folder(tmp_path / "b", model, tiny_card(), shared_autoencoder=first / "autoencoder.safetensors")
    card = json.loads((second / "model_card.json").read_text())
    assert "../a/autoencoder.safetensors" in card["weights"]
    assert not (second / "autoencoder.safetensors").exists()
    loaded, _ = load_model_folder(second)
    assert _same_weights(model, loaded)


def test_refuses_to_overwrite_unless_asked(tmp_path):
    folder = save_model_folder(tmp_path / "m", tiny_model(), tiny_card())
    with pytest.raises(CheckpointError, match="already exists"):
        save_model_folder(folder, tiny_model(), tiny_card())
    save_model_folder(folder, tiny_model(seed=3), tiny_card(), overwrite=True)
    assert verify_model_folder(folder) == []
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_missing_weight_file_names_the_file(tmp_path):
    folder = save_model_folder(tmp_path / "m", tiny_model(), tiny_card())
    (folder / "unet.safetensors").unlink()
    with pytest.raises(CheckpointError, match="unet.safetensors"):
        load_model_folder(folder)
    assert any("unet.safetensors: missing" in p for p in verify_model_folder(folder))


def test_corrupt_weight_file_fails_the_sha256_check(tmp_path):
    folder = save_model_folder(tmp_path / "m", tiny_model(), tiny_card())
    path = folder / "condition_encoder.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_model_folder(folder)


def test_a_digest_mismatch_is_reported_before_the_parse_error_it_causes(tmp_path):
    """The digests run beside the build; a file too broken to parse is still named as corrupt."""
    folder = save_model_folder(tmp_path / "m", tiny_model(), tiny_card())
    path = folder / "autoencoder.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"autoencoder.safetensors: sha256 .* does not match the model card"):
        load_model_folder(folder)


def test_background_verification_names_the_bad_file_among_several(tmp_path):
    files = {}
    for index in range(3):
        path = tmp_path / f"w{index}.bin"
        path.write_bytes(bytes([index]) * (3 << 20))  # 3 MiB: several hash chunks
        files[path] = sha256_file(path)
    BackgroundVerification(files, workers=2).raise_if_mismatch()  # all good: no error
    bad = dict(files)
    bad[tmp_path / "w1.bin"] = "0" * 64
    with pytest.raises(CheckpointError, match=r"w1.bin: sha256 .* does not match"):
        BackgroundVerification(bad, workers=2).raise_if_mismatch()
    gone = {tmp_path / "missing.bin": "0" * 64}
    with pytest.raises(CheckpointError, match=r"missing.bin: cannot be read to verify its sha256"):
        BackgroundVerification(gone).raise_if_mismatch()
    assert default_hash_workers(3) >= 1 and default_hash_workers(1) == 1


def test_truncated_weight_file_is_a_checkpoint_error_even_without_verification(tmp_path):
    folder = save_model_folder(tmp_path / "m", tiny_model(), tiny_card())
    path = folder / "autoencoder.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_model_folder(folder, verify=False)


def test_config_that_does_not_fit_the_weights_lists_the_keys(tmp_path):
    folder = save_model_folder(tmp_path / "m", tiny_model(), tiny_card())
    cfg = json.loads((folder / "config.json").read_text())
    cfg["unet"]["block_out_channels"] = [8, 24]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsMismatchError, match="wrong shape") as info:
        load_model_folder(folder)
    assert "unet.safetensors" in str(info.value) and "config.json" in str(info.value)


def test_missing_config_and_bad_card_are_named(tmp_path):
    folder = save_model_folder(tmp_path / "m", tiny_model(), tiny_card())
    (folder / "model_card.json").write_text("{not json")
    with pytest.raises(ModelCardError, match="model_card.json: not valid JSON"):
        load_model_folder(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ConfigError, match="config.json: no such file"):
        load_model_folder(folder)
    with pytest.raises(CheckpointError, match="not a model folder"):
        load_model_folder(tmp_path / "nowhere")


def test_fast_decoder_is_an_optional_stored_component(tmp_path):
    from engine_test_helpers import tiny_config

    from SDSegLogic.config import FastDecoderConfig
    from SDSegLogic.models import SDSegModel

    cfg = tiny_config().replace(fast_decoder=FastDecoderConfig(block_out_channels=(8, 8), num_blocks=(1, 1)))
    model = SDSegModel(cfg).eval()
    assert "fast_decoder" in model.component_names
    card = tiny_card().replace(fast_decoder={"distilled_from": "autoencoder decoder", "dice_delta": -0.01})
    folder = save_model_folder(tmp_path / "m", model, card)
    assert (folder / "fast_decoder.safetensors").is_file()
    loaded, loaded_card = load_model_folder(folder)
    assert _same_weights(model, loaded) and loaded_card.fast_decoder["dice_delta"] == -0.01
    x = random_slices(2)
    faithful = SDSegPipeline(loaded, loaded_card, device="cpu")(x, seed=0)
    fast = SDSegPipeline(loaded, loaded_card, device="cpu", fast_decoder=True)(x, seed=0)
    assert fast.probabilities.shape == faithful.probabilities.shape
    assert not torch.equal(fast.probabilities, faithful.probabilities)
    (folder / "fast_decoder.safetensors").unlink()
    assert any("fast_decoder" in problem for problem in verify_model_folder(folder))


def test_fast_decoder_must_exist_to_be_used():
    with pytest.raises(ConfigError, match="no distilled fast decoder"):
        SDSegPipeline(tiny_model(), tiny_card(), device="cpu", fast_decoder=True)


def _header_metadata_keys(path):
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        return list(json.loads(handle.read(length))["__metadata__"])


def test_saving_the_same_model_twice_gives_identical_bytes(tmp_path):
    """The card's sha256 digests must not change when identical weights are exported again.

    safetensors writes its metadata from a hash map whose order varies between processes; each save
    here runs in a fresh interpreter so the unordered case would show up (1 in 2 per file).
    """
    script = (
        "import sys; sys.path.insert(0, sys.argv[3])\n"
        "import torch\n"
        "from SDSegLogic.model_folder import save_model_folder\n"
        "from engine_test_helpers import tiny_card, tiny_model\n"
        "torch.manual_seed(int(sys.argv[2]))\n"
        "save_model_folder(sys.argv[1], tiny_model(), tiny_card())\n"
    )
    helpers = str(Path(__file__).parent)
    digests = []
    for run in range(2):
        folder = tmp_path / f"export{run}"
        subprocess.run([sys.executable, "-c", script, str(folder), "0", helpers], check=True)
        weight_files = sorted(folder.glob("*.safetensors"))
        assert len(weight_files) == 3
        for weight_file in weight_files:
            assert _header_metadata_keys(weight_file) == ["component", "format"], weight_file
        digests.append(json.loads((folder / "model_card.json").read_text())["weights"])
    assert digests[0] == digests[1]


def test_sort_header_metadata_keeps_every_tensor_and_entry(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from SDSegLogic.weights_file import sort_header_metadata

    tensors = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a": torch.ones(4, dtype=torch.float16)}
    metadata = {"zeta": "1", "alpha": "2", "mid": "ü"}
    path = tmp_path / "w.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    size = path.stat().st_size
    sort_header_metadata(path)
    assert _header_metadata_keys(path) == ["alpha", "mid", "zeta"]
    assert sort_header_metadata(path) is False  # already in order: nothing to do
    assert path.stat().st_size == size
    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata() == metadata
        for name, tensor in tensors.items():
            assert torch.equal(handle.get_tensor(name), tensor)


def test_sort_header_metadata_names_a_file_that_is_not_safetensors(tmp_path):
    from SDSegLogic.weights_file import sort_header_metadata

    path = tmp_path / "notes.safetensors"
    path.write_bytes(struct.pack("<Q", 100) + b"{oops")
    with pytest.raises(ValueError, match="notes.safetensors: truncated"):
        sort_header_metadata(path)
    path.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(ValueError, match="notes.safetensors: the safetensors header is not valid JSON"):
        sort_header_metadata(path)
