"""A crash between saving ``checkpoints/best`` and recording it in the step checkpoint of the same step: the resumed
run and an export of that step take the record that ``best`` was written with, not the step's stale one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


def _crashed_after_best(tmp_path: Path):
    """A 2-step run that validated at step 2, left as a crash right after ``save("best")`` leaves it.

    The trainer saves step 2 (its record: no validation yet), validates, saves ``best`` and only then
    writes the new record into step 2; the files here are those of a crash before that last write.
    """
    root, base = train_phantom(tmp_path, PHANTOM)
    step = root / "s2" / "checkpoints" / "step-00000002" / "state.json"
    best = json.loads((root / "s2" / "checkpoints" / "best" / "state.json").read_text())
    assert best["step"] == 2 and best["best"]["step"] == 2 and best["history"][-1]["step"] == 2
    state = json.loads(step.read_text())
    state.update(best={"metric": None, "step": None}, history=[])  # as save() wrote it before validating
    step.write_text(json.dumps(state, indent=1) + "\n")
    return root, base, best


def test_resume_takes_the_best_record_written_with_the_best_weights(tmp_path):
    root, base, best = _crashed_after_best(tmp_path)
    trainer = Stage2Trainer(load_config(None, base), resume="auto")
    assert trainer.step == 2
    assert trainer.best == best["best"]
    assert [h["step"] for h in trainer.history] == [2]
    repaired = json.loads((root / "s2" / "checkpoints" / "step-00000002" / "state.json").read_text())
    assert repaired["best"] == best["best"] and repaired["history"] == best["history"]


def test_export_of_the_crashed_step_records_the_best_validation_of_the_run(tmp_path):
    root, base, best = _crashed_after_best(tmp_path)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"model_id": "phantom", "classes": [{"name": "blob"}, {"name": "vessel"}]}))
    assert export_main([str(empty), *base, "--checkpoint", "latest", "--card", str(card), "--out", str(tmp_path / "model")]) == 0
    exported = json.loads((tmp_path / "model" / "model_card.json").read_text())["training"]
    assert exported["exported_from"] == "step-00000002" and exported["best_validation"] == best["best"]
