"""``heldout eval --grid native`` scores an exported folder on each case's own grid, as ``sdseg-eval --grid native``.

``heldout eval`` reports what the exported folder does on the held-out cases, but only against the labels
resized to ``data.size`` (here 32 x 32 volumes scored at 16 x 16), not the label files a user holds. The
native scores go through the shared rule (:func:`sdseg_training.native_eval.score_native`) and are checked
here against an independent computation: the folder loaded by the engine, its soft maps resized back
with :func:`SDSegLogic.slice_resize.resize_back`, and the label file read with SimpleITK, for the
autoencoder decoder and the distilled fast decoder.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from training_volume_helpers import two_block_volumes

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.distill_decoder import main as distill_main  # noqa: E402
from sdseg_training.heldout import main as heldout_main  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("SimpleITK")
    root = tmp_path_factory.mktemp("heldoutnative")
    data = two_block_volumes(root / "data")
    split_file = root / "split.json"
    split_file.write_text(json.dumps({"format": "sdseg-split", "version": 1, "kind": "volumes",
                                      "train": ["case0", "case1", "case2"], "val": ["case3"], "test": ["case4"]}))
    base = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=volumes", f"data.root={data}",
            "data.size=16", "data.window=[-100, 100]", f"data.split_file={split_file}",
            "data.classes=[{name: upper, labels: [1]}]", "train.batch_size=2", "optim.warmup_steps=1",
            "autoencoder.batch_size=2", "autoencoder.val_every=100"]
    ae = root / "ae"
    config = root / "run.yaml"
    config.write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_autoencoder(load_config(None, base + ["model.autoencoder=null", f"autoencoder.output_dir={ae}",
                                                    "autoencoder.max_steps=1"]), log=lambda *_: None)
        args = base + [f"model.autoencoder={ae}", f"train.output_dir={root / 's2'}", "train.max_steps=2",
                       "train.val_every=2", "train.ckpt_every=2"]
        Stage2Trainer(load_config(None, args), resume="none").run()
        assert export_main([str(config), *args, "--out", str(root / "base")]) == 0
        assert distill_main([str(root / "base"), str(root / "model"), "--steps", "2", "--batch", "2", "--channels", "8",
                             "--train-masks", "4", "--eval-masks", "2"]) == 0
    return root, data, config, args


def _oracle_dice(root: Path, data: Path, cfg, fast: bool) -> float:
    """Dice of case4 computed apart: the engine's folder, resize_back, p > 0.5, the label file read by ITK."""
    import SimpleITK as sitk
    import torch
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.slice_resize import resize_back
    from sdseg_training.data import load_data

    _, _, sets = load_data(cfg.data, Path(cfg.train.output_dir), parts=("test",))
    test = sets["test"]
    pipe = SDSegPipeline.from_pretrained(root / "model", device="cpu", dtype=torch.float32, fast_decoder=fast)
    images = np.stack([test.image3(i) for i in range(len(test))])
    probs = pipe(torch.from_numpy(images), num_inference_steps=1, num_samples=1, seed=0).probabilities.numpy()
    native = sitk.GetArrayFromImage(sitk.ReadImage(str(data / "labels" / "case4.nii.gz")))
    pred = resize_back(probs[:, None], native.shape[-2:])[:, 0] > 0.5
    truth = native == 1
    inter, total = np.logical_and(pred, truth).sum(), pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * inter / total)


def _heldout(root: Path, config: Path, args: list, name: str, *extra: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert heldout_main(["eval", str(config), *args, "--model", str(root / "model"), "--json",
                             str(root / f"{name}.json"), "--device", "cpu", *extra]) == 0
    return json.loads((root / f"{name}.json").read_text())


def test_heldout_native_scores_are_the_folder_resized_back_against_the_label_files(exported, capsys):
    import SimpleITK as sitk

    root, data, config, args = exported
    native = _heldout(root, config, args, "native", "--grid", "native")
    training = _heldout(root, config, args, "training")
    assert "each case's own grid" in capsys.readouterr().out
    assert native["grid"] == "native" and training["grid"] == "training"
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(data / "labels" / "case4.nii.gz")))
    for decoder in ("full", "fast"):
        pixels = np.asarray(native[decoder]["confusion"]["pixels"])
        assert pixels.sum() == labels.size == 6 * 32 * 32  # every voxel of the file, not 6 * 16 * 16
        assert pixels[1].sum() == int((labels == 1).sum())
        assert np.asarray(training[decoder]["confusion"]["pixels"]).sum() == 6 * 16 * 16
    cfg = load_config(None, args)
    assert native["full"]["dice"] == pytest.approx(_oracle_dice(root, data, cfg, fast=False), abs=1e-5)
    assert native["fast"]["dice"] == pytest.approx(_oracle_dice(root, data, cfg, fast=True), abs=1e-5)
    assert native["fast_minus_full_dice"]["mean"] == pytest.approx(native["fast"]["dice"] - native["full"]["dice"], abs=1e-4)


def test_heldout_native_multi_sample_scores_every_voxel(exported):
    root, data, config, args = exported
    native = _heldout(root, config, args, "samples", "--grid", "native", "--samples", "2")
    assert np.asarray(native["multi_sample"]["samples=2"]["confusion"]["pixels"]).sum() == 6 * 32 * 32


def test_the_card_says_which_grid_its_test_metrics_were_scored_on(exported):
    """``sdseg-export --metrics`` of an ``sdseg-eval --grid native`` result: the card's numbers name their grid."""
    from sdseg_training.cli import eval_main

    root, data, config, args = exported
    cards = {}
    for grid in ("native", "training"):
        metrics = root / f"eval-{grid}.json"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert eval_main([str(config), *args, "--split", "test", "--checkpoint", "latest", "--grid", grid,
                              "--json", str(metrics)]) == 0
            assert export_main([str(config), *args, "--checkpoint", "latest", "--metrics", str(metrics),
                                "--out", str(root / f"card-{grid}")]) == 0
        cards[grid] = json.loads((root / f"card-{grid}" / "model_card.json").read_text())["training"]["test_metrics"]
        scored = json.loads(metrics.read_text())["results"]["steps=1"]["dice"]
        assert cards[grid]["steps=1"]["dice"] == round(scored, 4)
    assert cards["native"]["grid"] == "native" and cards["training"]["grid"] == "training"
