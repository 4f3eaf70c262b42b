"""An output that cannot be written whole (disk full, file size limit) raises ``OSError`` and leaves no file at all.

The writers run in a child process whose file size limit (``RLIMIT_FSIZE``, as a full disk or a quota) is below the
output's size; Python ignores ``SIGXFSZ``, so a write past the limit fails with ``EFBIG``. ITK's NIfTI writer did not
report that failure: a ``.nii`` cut at the limit (or a ``.nii.gz`` without its gzip end) was renamed into place as the
output, with no error. ITK's MetaImage writer raised a bare ``RuntimeError`` where the others raise ``OSError``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

resource = pytest.importorskip("resource")  # POSIX only
pytest.importorskip("SimpleITK")

_CHILD = """
import json, os, resource, sys, types
import numpy as np
from io_test_helpers import make_card
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.writers import write_float_volume, write_segmentation

folder, name, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
geometry = ImageGeometry((0.8, 0.9, 2.5), (10.0, -4.0, 3.0), np.eye(3), (64, 48, 12))
noise = np.random.default_rng(3).random(geometry.array_shape)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
try:
    if sys.argv[4] == "labels":
        result = types.SimpleNamespace(labels=(noise > 0.5).astype(np.uint8), geometry=geometry)
        write_segmentation(os.path.join(folder, name), result, make_card(1))
    else:
        write_float_volume(os.path.join(folder, name), noise.astype(np.float32), geometry)
    error = None
except Exception as exc:
    error = [type(exc).__name__, isinstance(exc, OSError), str(exc)]
print(json.dumps({"error": error, "left": sorted(os.listdir(folder))}))
"""


def write_with_limit(folder, name: str, what: str, limit: int) -> dict:
    """Run the writer of ``what`` ("labels" or "float") for ``folder/name`` in a child limited to ``limit`` bytes."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    env_path = [str(here), str(here.parents[1]), *sys.path]
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder), name, str(limit), what], capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": ":".join(env_path), "PATH": "/usr/bin:/bin",
                               "PYTHONDONTWRITEBYTECODE": "1"})  # a .pyc cut at the limit would stay
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


CASES = [(what, name) for what in ("float", "labels") for name in ("out.nii", "out.nii.gz", "out.mha", "out.nrrd")]


@pytest.mark.parametrize("what, name", CASES + [("labels", "out.seg.nrrd")])
def test_an_output_cut_short_raises_and_leaves_nothing(what, name, tmp_path):
    found = write_with_limit(tmp_path, name, what, limit=4000)
    assert found["left"] == []  # neither the output nor a temporary file
    assert found["error"] is not None and found["error"][1], found["error"]  # an OSError


@pytest.mark.parametrize("name", ["out.nii", "out.nii.gz"])
def test_a_nifti_within_the_limit_is_written_and_read_back(name, tmp_path):
    """The check of a written NIfTI lets a whole file through (the limit well above its size)."""
    found = write_with_limit(tmp_path, name, "float", limit=1 << 30)
    assert found == {"error": None, "left": [name]}
    from SDSegLogic.io.readers import read_image

    assert read_image(tmp_path / name).array.shape == (12, 48, 64)
