"""A CPU package's cache key names the vector ISA torch dispatches to, not only the architecture.

The key's CPU tag was ``cpu-<machine>``: a cache shared by an AVX-512 and an AVX2 x86_64 host (a network
home folder) handed the AVX2 host packages it cannot run. The ISA is lowered for real, with no
patching, by ``ATEN_CPU_CAPABILITY=default`` in a child process; the test runs where the host's own
capability differs from ``DEFAULT`` (any x86_64 with SSE4.2/AVX or an ARM with SVE), else skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from SDSegLogic.model_folder import save_model_folder

from engine_test_helpers import tiny_card, tiny_model

_TESTS = Path(__file__).resolve().parent
_CHILD = """
import json, sys, torch
sys.path[:0] = sys.argv[1:3]
from SDSegLogic.compiled import package_paths
from SDSegLogic.model_folder import load_model_folder
model, _ = load_model_folder(sys.argv[3] + "/model")  # the same weights bit for bit (random init differs per ISA)
paths = package_paths(model, torch.device("cpu"), torch.float32, torch.float32, True, cache_dir=sys.argv[3])
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "paths": {k: str(v) for k, v in paths.items()}}))
"""


def _keys(tmp_path, capability):
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if capability is not None:
        env["ATEN_CPU_CAPABILITY"] = capability
    done = subprocess.run([sys.executable, "-c", _CHILD, str(_TESTS.parents[1]), str(_TESTS), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_cpu_package_key_changes_with_the_vector_isa(tmp_path):
    save_model_folder(tmp_path / "model", tiny_model(num_classes=3, seed=2), tiny_card(num_classes=3))
    native = _keys(tmp_path, None)
    lowered = _keys(tmp_path, "default")
    if native["capability"] == lowered["capability"]:
        pytest.skip(f"this CPU's capability is {native['capability']}; no lower ISA to compare with")
    assert set(native["paths"]) == set(lowered["paths"]) and native["paths"]
    for name, path in native["paths"].items():  # an AVX-512 package is never found by the AVX-less process
        assert lowered["paths"][name] != path, name
    assert native == _keys(tmp_path, None)  # stable for one ISA
