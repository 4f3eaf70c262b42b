"""Registry values outside the ranges models.schema.json gives are refused when the registry is read.

Only their JSON types were checked: ``"cpu_seconds_per_slice": -1`` (or ``NaN``, ``Infinity``, which
Python's json reads) was loaded, and then ``sdseg segment`` died on the ETA prior (ValueError) and the
Slicer panel on its time estimate; ``input_channels: 2`` and ``size_bytes: -5`` passed as well.
"""

from __future__ import annotations

import json

import pytest
from cli_test_helpers import entry, write_registry

from SDSegLogic.errors import ModelCardError
from SDSegLogic.progress import ProgressTracker
from SDSegLogic.registry import Registry


@pytest.mark.parametrize("key, value", [
    ("cpu_seconds_per_slice", -1), ("cpu_seconds_per_slice", 0), ("cpu_seconds_per_slice", float("nan")),
    ("gpu_seconds_per_slice", float("inf")), ("size_bytes", -5), ("input_channels", 2),
])
def test_out_of_range_values_are_refused_naming_the_key(key, value, tmp_path):
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(**{key: value})])
    assert json.loads(path.read_text())["models"][0][key] == value or value != value  # written as given (NaN != NaN)
    with pytest.raises(ModelCardError, match=rf"models\.json: models\[0\]: {key} .* must be"):
        Registry.load(path)


def test_values_in_range_load_and_serve_as_the_eta_prior(tmp_path):
    path = write_registry(tmp_path / "Resources" / "models.json",
                          [entry(cpu_seconds_per_slice=0.6, gpu_seconds_per_slice=0.05, size_bytes=0, input_channels=3)])
    loaded = Registry.load(path).get("tiny-test")
    assert loaded.seconds_per_slice("cpu") == 0.6 and loaded.input_channels == 3
    ProgressTracker(10, prior_seconds_per_unit=loaded.seconds_per_slice("cpu"))  # what `sdseg segment` does with it
