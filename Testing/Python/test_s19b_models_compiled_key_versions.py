"""A compiled package's cache key changes with the diffusers and SDSegLogic versions (and torch's).

The packages hold the networks' code as traced: a diffusers upgrade can change a block's forward
(its numerics or its inputs), an SDSegLogic upgrade the wrappers exported around them. Before, the key
hashed torch's version only, so after either upgrade the engine loaded the stale packages of the
old code. Only one diffusers and one SDSegLogic can be installed here, so the test sets their
``__version__`` attributes in-process, which is what the key reads when it is computed.
"""

from __future__ import annotations

import diffusers
import pytest
import torch

import SDSegLogic
from SDSegLogic.compiled import package_paths

from engine_test_helpers import tiny_model


def _paths(tmp_path) -> dict:
    model = tiny_model(num_classes=3, seed=2)
    return package_paths(model, torch.device("cpu"), torch.float32, torch.float32, True, cache_dir=tmp_path)


@pytest.mark.parametrize("module", [diffusers, SDSegLogic, torch], ids=["diffusers", "SDSegLogic", "torch"])
def test_every_package_key_changes_with_the_library_version(module, tmp_path, monkeypatch):
    before = _paths(tmp_path)
    assert before == _paths(tmp_path)  # the key is stable for one set-up
    monkeypatch.setattr(module, "__version__", str(module.__version__) + ".post999")
    after = _paths(tmp_path)
    assert set(after) == set(before) and len(before) >= 3
    for name in before:  # no network's package from the old version is found under the new key
        assert after[name] != before[name], name
