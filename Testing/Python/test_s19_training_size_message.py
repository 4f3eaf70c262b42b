"""A data.size the networks cannot take is refused in the words the user wrote, with the sizes that fit.

The refusal came from the engine's config check ("sample_size 31 must be a positive multiple of 4"), naming a key
the training config does not have and no size to use instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.modeling import build_model_config  # noqa: E402


@pytest.mark.parametrize("size,nearest", [(31, "data.size=28 or 32"), (2, "data.size=4")])
def test_a_size_that_does_not_fit_names_data_size_and_the_sizes_that_fit(size, nearest):
    cfg = load_config(None, ["model.preset=tiny", "data.kind=phantom2d", f"data.size={size}"])
    with pytest.raises(TrainingConfigError) as caught:
        build_model_config(cfg.model, cfg.data)
    message = str(caught.value)
    assert f"data.size={size}" in message and "multiple of 4" in message and nearest in message, message


def test_a_size_that_fits_builds():
    cfg = load_config(None, ["model.preset=tiny", "data.kind=phantom2d", "data.size=32"])
    assert build_model_config(cfg.model, cfg.data).sample_size == 32
