"""STS-3D's test volumes are the paper's: Teeth_0010, Teeth_0011 and Teeth_0012, the other nine train.

The official preprocessing (lin-tianyu/Stable-Diffusion-Seg ``data/sts3d/sts3d_preprocess.py``) takes the test
volumes by the name pattern ``*_001*_*`` of the labelled release (``splits/valtest.txt``: Teeth_0010_0000,
Teeth_0011_0000, Teeth_0012_0000; ``splits/labeled.txt``: Teeth_0001 to Teeth_0009). A seeded draw of 3 of the 12
(``data.test_fraction``) tested the model on other volumes than the paper's. Tiny real NIfTI volumes with the
release's names are read here; a folder of other names keeps the seeded draw.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402

OFFICIAL_TEST = ["Teeth_0010_0000", "Teeth_0011_0000", "Teeth_0012_0000"]


def _volumes(root: Path, names) -> Path:
    import SimpleITK as sitk

    for name in names:
        vol = np.zeros((2, 8, 8), np.float32)
        lab = np.zeros((2, 8, 8), np.uint8)
        lab[:, 2:5, 2:5] = 1
        vol[lab > 0] = 1000.0
        for sub, array in (("image", vol), ("label", lab)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(sitk.GetImageFromArray(array), str(root / sub / f"{name}.nii.gz"))
    return root


def test_the_release_names_give_the_paper_s_test_volumes_whatever_the_seed(tmp_path):
    root = _volumes(tmp_path / "STS-3D", [f"Teeth_{i:04d}_0000" for i in range(1, 13)])
    for seed in (0, 1, 2):
        cfg = DataSection(kind="sts3d", root=str(root), size=8, val_fraction=0.1, test_fraction=0.25, split_seed=seed)
        _, split, _ = load_data(cfg, tmp_path / f"run{seed}", parts=())
        assert split["test"] == OFFICIAL_TEST
        assert sorted(split["train"] + split["val"]) == [f"Teeth_{i:04d}_0000" for i in range(1, 10)]


def test_explicit_test_cases_still_win(tmp_path):
    root = _volumes(tmp_path / "STS-3D", [f"Teeth_{i:04d}_0000" for i in range(1, 13)])
    cfg = DataSection(kind="sts3d", root=str(root), size=8, val_fraction=0.0, test_cases=["Teeth_0001_0000"])
    _, split, _ = load_data(cfg, tmp_path / "run", parts=())
    assert split["test"] == ["Teeth_0001_0000"] and len(split["train"]) == 11


def test_other_names_keep_the_seeded_draw(tmp_path):
    """Without the release's names the test volume is drawn: the same per seed, not the same for every seed."""
    names = [f"cbct{i}" for i in range(4)]
    root = _volumes(tmp_path / "teeth", names)
    drawn = {}
    for seed in range(8):
        tests = []
        for again in range(2):
            cfg = DataSection(kind="sts3d", root=str(root), size=8, val_fraction=0.0, test_fraction=0.25, split_seed=seed)
            _, split, _ = load_data(cfg, tmp_path / f"run{seed}-{again}", parts=())
            assert len(split["test"]) == 1 and sorted(split["train"] + split["test"]) == names
            tests.append(split["test"])
        assert tests[0] == tests[1]  # one seed, one draw
        drawn[seed] = tests[0][0]
    assert len(set(drawn.values())) > 1, drawn  # a draw: eight seeds do not all pick the same volume
