"""A distilled model folder is a model version of its own, beside its teacher in the models cache.

``python -m sdseg_training.distill_decoder`` saved the student under the teacher's ``model_id`` and
``version``: the two folders differ (one carries the opt-in fast decoder) but claimed one cache folder,
so ``sdseg models import`` of the second zip was refused with "pass --force to replace it", which throws
the other away, and ``id@version`` named either. The distilled card now names the fast decoder in its
version (build metadata ``+fast-decoder``, or ``--version``), and a version equal to the teacher's is refused.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from engine_test_helpers import tiny_card, tiny_model
from SDSegLogic.model_folder import load_model_folder, save_model_folder
from SDSegLogic.model_zip import import_zip
from SDSegLogic.registry import Registry, resolve_model
from sdseg_training.distill_decoder import main

TINY = ["--steps", "2", "--batch", "2", "--channels", "8", "--train-masks", "4", "--eval-masks", "2"]


def _zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{folder.name}/{f.name}")
    return archive


def test_teacher_and_distilled_model_install_side_by_side(tmp_path, capsys):
    teacher = save_model_folder(tmp_path / "model", tiny_model(), tiny_card())
    assert main([str(teacher), str(tmp_path / "fast"), *TINY]) == 0
    capsys.readouterr()
    _, teacher_card = load_model_folder(teacher)
    _, fast_card = load_model_folder(tmp_path / "fast")
    assert fast_card.model_id == teacher_card.model_id
    assert fast_card.version != teacher_card.version and "fast-decoder" in fast_card.version
    assert fast_card.fast_decoder["teacher_version"] == teacher_card.version
    home, registry = tmp_path / "home", Registry()
    first = import_zip(_zip(teacher, tmp_path / "t.zip"), registry, home=home)
    second = import_zip(_zip(tmp_path / "fast", tmp_path / "f.zip"), registry, home=home)  # was: already installed
    assert first.folder != second.folder and first.folder.is_dir() and second.folder.is_dir()
    plain = resolve_model(f"{teacher_card.model_id}@{teacher_card.version}", registry, home=home)
    assert load_model_folder(plain.folder)[0].fast_decoder is None  # the teacher is still the teacher


def test_an_explicit_version_is_used_and_the_teachers_own_is_refused(tmp_path, capsys):
    teacher = save_model_folder(tmp_path / "model", tiny_model(), tiny_card())
    version = load_model_folder(teacher)[1].version
    assert main([str(teacher), str(tmp_path / "fast"), *TINY, "--version", "9.9.9-fast"]) == 0
    assert load_model_folder(tmp_path / "fast")[1].version == "9.9.9-fast"
    with pytest.raises(SystemExit):
        main([str(teacher), str(tmp_path / "same"), *TINY, "--version", version.upper()])
    err = capsys.readouterr().err
    assert version in err and "--version" in err
    assert not (tmp_path / "same").exists()
