"""STS-3D: every label value above 0 is teeth (``training/README.md``), 16-bit values above 255 included.

Volume label maps keep ids above 255 exactly; the STS-3D mapping listed only the values 1..255 as
teeth, so a label map that stores the teeth as, say, 300 or 1000 trained on empty targets there
(silently, as long as another case had teeth in 1..255).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import discover  # noqa: E402

SIZE = 16


def _case(root: Path, cid: str, value: int) -> np.ndarray:
    import SimpleITK as sitk

    vol = np.full((2, SIZE, SIZE), -100, np.float32)
    lab = np.zeros((2, SIZE, SIZE), np.uint16)
    lab[:, 3:9, 4:10] = value
    vol[lab > 0] = 1100
    for sub, array in (("images", vol), ("labels", lab)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(sitk.GetImageFromArray(array), str(root / sub / f"{cid}.nii.gz"))
    return lab > 0


def test_sts3d_label_values_above_255_are_teeth(tmp_path):
    root = tmp_path / "sts"
    teeth = {cid: _case(root, cid, value) for cid, value in (("a", 1), ("b", 300), ("c", 1000), ("d", 65535))}
    info = discover(DataSection(kind="sts3d", root=str(root), size=SIZE, test_fraction=0.25))
    assert info.class_names == ["teeth"]
    for cid, expected in teeth.items():
        _, labels = info.cases[cid].load()
        assert np.array_equal(labels == 1, expected), f"case {cid}: teeth pixels {(labels == 1).sum()} of {expected.sum()}"
