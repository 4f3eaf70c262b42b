"""Real tiny model folders, model zips and registries for the CLI and registry tests."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from engine_test_helpers import tiny_card, tiny_model

from SDSegLogic.model_folder import save_model_folder


def make_model_folder(folder: Path, model_id: str = "tiny-test", version: str = "1.0.0", num_classes=None) -> Path:
    """Save a tiny random-weight model (CT window -125..275 HU, 32 x 32 slices) as a model folder."""
    card = tiny_card(num_classes, model_id=model_id).replace(version=version)
    return save_model_folder(folder, tiny_model(num_classes), card)


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def zip_folder(folder: Path, archive: Path, prefix: str = "", extra: Optional[Iterable[tuple]] = None) -> Path:
    """Zip every file of ``folder`` under ``prefix``; ``extra`` adds (name, bytes) members verbatim."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
        for name, data in extra or ():
            zf.writestr(name, data)
    return archive


def write_registry(path: Path, entries: list) -> Path:
    """A models.json at ``path`` (its ``path`` entries are relative to ``path.parent.parent``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format_version": 1, "models": entries}, indent=2), encoding="utf-8")
    return path


def entry(model_id: str = "tiny-test", version: str = "1.0.0", **fields) -> dict:
    base = {
        "id": model_id,
        "version": version,
        "title": "tiny test model",
        "task": "test",
        "modality": "CT",
        "classes": ["liver"],
        "license": "MIT",
    }
    base.update(fields)
    if "url" not in base and "path" not in base:
        base["path"] = f"Models/{model_id}"
    return base


class FailsOnConstantSlices:
    """A real pipeline, except that a batch of constant slices raises ``error`` (as a failing GPU kernel would).

    Every other attribute is the wrapped pipeline's, so ``sdseg segment`` runs it like any model;
    an input that is constant everywhere fails, the others are segmented normally.
    """

    def __init__(self, pipeline, error: BaseException) -> None:
        self._pipeline = pipeline
        self._error = error

    def __getattr__(self, name: str):
        return getattr(self._pipeline, name)

    def predict_probabilities(self, images: np.ndarray, **kwargs):
        if float(images.max() - images.min()) < 1e-3:  # constant up to the resize's rounding
            raise self._error
        return self._pipeline.predict_probabilities(images, **kwargs)
