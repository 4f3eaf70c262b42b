"""Researcher-workflow safety: stage 2 never trains on a silently random autoencoder, stage 1 never
replaces trained weights unasked, ``--overwrite`` never deletes a run, and cards fit 2-D picture data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.modeling import build_model, build_model_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

COMMON = ["model.preset=tiny", "model.condition_encoder_init=autoencoder", "data.kind=phantom2d", "data.size=32",
          "data.phantom_cases=10", "data.multiclass=true", "model.num_classes=3", "train.batch_size=4",
          "train.val_every=2", "train.ckpt_every=2", "train.log_every=1", "optim.warmup_steps=1", "train.max_steps=2"]
STAGE1 = ["autoencoder.max_steps=2", "autoencoder.val_every=2", "autoencoder.batch_size=4"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A stage-1 output and a 2-step stage-2 run on it; the stage-2 config leaves model.autoencoder null."""
    root = tmp_path_factory.mktemp("safety")
    ae_dir = root / "ae"
    base = COMMON + [f"autoencoder.output_dir={ae_dir}", f"train.output_dir={root / 's2'}"]
    train_autoencoder(load_config(None, base + STAGE1), log=lambda *_: None)
    Stage2Trainer(load_config(None, base), resume="none").run()  # null: the trainer takes the stage-1 output
    return root, base


def test_stage2_refuses_a_null_autoencoder_without_a_stage1_output(tmp_path):
    from sdseg_training.modeling import resolve_autoencoder_source

    cfg = load_config(None, COMMON + [f"autoencoder.output_dir={tmp_path / 'none'}", f"train.output_dir={tmp_path / 's2'}"])
    with pytest.raises(TrainingConfigError, match=r"model.autoencoder is null.*sdseg-train-ae.*kl-f8") as info:
        Stage2Trainer(cfg, resume="none")
    assert "model.autoencoder=random" in str(info.value)
    with pytest.raises(TrainingConfigError, match=str(tmp_path / "none")):
        resolve_autoencoder_source(cfg)
    random = load_config(None, COMMON + ["model.autoencoder=random"])
    model = build_model(build_model_config(random.model, random.data), random.model)
    assert any("RANDOM autoencoder" in note for note in model.init_notes)


def test_a_null_autoencoder_uses_the_stage1_output_of_the_config(run):
    from sdseg_training.modeling import resolve_autoencoder_source

    root, base = run
    cfg = load_config(None, base)
    lines = []
    assert resolve_autoencoder_source(cfg, log=lines.append) == str(root / "ae") == cfg.model.autoencoder
    assert "autoencoder.output_dir" in lines[0]
    model = build_model(build_model_config(cfg.model, cfg.data), cfg.model)
    assert any(note.startswith("stage-1 autoencoder") for note in model.init_notes)
    from sdseg_training.evaluate import model_from_checkpoint

    model_from_checkpoint(load_config(None, base), root / "s2" / "checkpoints" / "best")  # eval/export of a null config
    recorded = json.loads((root / "s2" / "config.resolved.json").read_text())
    assert json.dumps(recorded).count(str(root / "ae")) >= 1  # the run's record names the autoencoder it used


def test_stage1_refuses_to_replace_trained_weights_and_keeps_them_when_asked(run, tmp_path):
    root, base = run
    ae_dir = tmp_path / "ae"
    (ae_dir).mkdir()
    for name in ("autoencoder.safetensors", "autoencoder.json"):
        (ae_dir / name).write_bytes((root / "ae" / name).read_bytes())
    before = (ae_dir / "autoencoder.safetensors").read_bytes()
    cfg = load_config(None, base + STAGE1 + [f"autoencoder.output_dir={ae_dir}", "train.seed=7"])
    with pytest.raises(TrainingConfigError, match=rf"{ae_dir} already holds a trained stage-1 autoencoder.*--overwrite"):
        train_autoencoder(cfg, log=lambda *_: None)
    assert (ae_dir / "autoencoder.safetensors").read_bytes() == before

    train_autoencoder(cfg, log=lambda *_: None, overwrite=True)
    assert (ae_dir / "autoencoder.safetensors").read_bytes() != before
    kept = [p for p in (ae_dir / "replaced").iterdir()]
    assert len(kept) == 1 and (kept[0] / "autoencoder.safetensors").read_bytes() == before
    # a stage-2 run on the replaced weights names the kept copy
    from sdseg_training.errors import ResumeError
    from sdseg_training.evaluate import model_from_checkpoint

    stale = load_config(None, base + [f"model.autoencoder={ae_dir}"])
    with pytest.raises(ResumeError, match=rf"sha256 [0-9a-f]{{64}} expected.*model.autoencoder={kept[0]}"):
        model_from_checkpoint(stale, root / "s2" / "checkpoints" / "best")
    model_from_checkpoint(load_config(None, base + [f"model.autoencoder={kept[0]}"]), root / "s2" / "checkpoints" / "best")


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_overwrite_never_deletes_the_run_or_other_folders(run, tmp_path):
    from sdseg_training.export import export_run

    root, base = run

    def export(out, overwrite=False, card=None):
        return export_run(load_config(None, base), str(out), "best", str(card) if card else None, None, overwrite)

    run_files = _files(root / "s2")
    for out in (root / "s2", root, root / "s2" / "checkpoints"):
        with pytest.raises(TrainingConfigError, match="--overwrite would delete|not an engine model folder"):
            export(out, overwrite=True)
    assert _files(root / "s2") == run_files
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("mine")
    with pytest.raises(TrainingConfigError, match="not an engine model folder"):
        export(notes, overwrite=True)
    assert (notes / "thesis.txt").read_text() == "mine"
    with pytest.raises(TrainingConfigError, match="already exists.*--overwrite"):
        export(notes)

    model = tmp_path / "model"
    export(model)
    first = json.loads((model / "model_card.json").read_text())
    card = tmp_path / "card.yaml"
    card.write_text("model_id: again\nlicence: CC-BY-4.0\n")
    export(model, overwrite=True, card=card)
    second = json.loads((model / "model_card.json").read_text())
    assert first["model_id"] == "s2" and second["model_id"] == "again" and second["license"] == "CC-BY-4.0"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left behind
    (model / "extra").mkdir()
    with pytest.raises(TrainingConfigError, match=r"subfolders \['extra'\]"):
        export(model, overwrite=True)
    card.write_text("licnse: MIT\n")
    with pytest.raises(TrainingConfigError, match=r"unknown model-card keys \['licnse'\].*'license'"):
        export(tmp_path / "m2", card=card)


def test_export_without_best_checkpoint_suggests_latest(run, tmp_path):
    from sdseg_training.errors import ResumeError
    from sdseg_training.evaluate import checkpoint_folder

    root, _ = run
    (tmp_path / "checkpoints" / "step-00000002").mkdir(parents=True)
    (tmp_path / "checkpoints" / "step-00000002" / "state.json").write_text("{}")
    with pytest.raises(ResumeError, match="--checkpoint latest"):
        checkpoint_folder(tmp_path, "best")


def _picture_folder(root: Path, grey: bool) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(4):
        pixels = rng.integers(0, 255, (24, 24) if grey else (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"case{i}.png")
        mask = np.zeros((24, 24), np.uint8)
        mask[4:12, 6:14] = 255
        Image.fromarray(mask).save(root / "masks" / f"case{i}.png")
    return root


@pytest.mark.parametrize("grey", [False, True])
def test_card_of_a_picture_folder_is_a_photo_model(tmp_path, grey):
    from types import SimpleNamespace

    from SDSegLogic.segment_plan import modality_note
    from sdseg_training.data import discover
    from sdseg_training.export import build_card

    root = _picture_folder(tmp_path / "pics", grey)
    cfg = load_config(None, ["model.preset=tiny", "data.kind=folder2d", f"data.root={root}", "data.size=32",
                             f"train.output_dir={tmp_path / 'run'}"])
    model = SimpleNamespace(config=SimpleNamespace(sample_size=32))
    card = build_card(cfg, discover(cfg.data), model, {}, {})
    assert card.modality == "photo" and modality_note(card.modality, "photo", strict=True) is None
    assert card.input_channels == (1 if grey else 3) and card.intensity.kind == "rgb"
    assert build_card(cfg, discover(cfg.data), model, {"modality": "dermoscopy", "input_channels": 3}, {}).modality == "dermoscopy"
