"""A multi-class run needs two or more foreground classes (num_classes = foreground + 1 >= 3: class 0 is the
union of all foreground, so one foreground class is the binary model). The training config check says so
before anything is built, as the engine's config does (SDSegLogic.config refuses num_classes < 3)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config_checks import check_class_count  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402


@pytest.mark.parametrize("num_classes, foreground", [(2, 1), (2, None), (None, 1), (1, None)])
def test_a_multiclass_run_with_one_foreground_class_is_refused_with_the_binary_remedy(num_classes, foreground):
    with pytest.raises(TrainingConfigError, match=r"run.yaml: data\.multiclass is true .*data\.multiclass=false"):
        check_class_count(num_classes, True, foreground, "run.yaml")


@pytest.mark.parametrize("num_classes, foreground", [(3, 2), (None, 2), (6, 5), (3, None)])
def test_two_or_more_foreground_classes_pass(num_classes, foreground):
    check_class_count(num_classes, True, foreground, "run.yaml")
