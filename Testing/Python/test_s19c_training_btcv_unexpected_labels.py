"""BTCV: a label value that is no BTCV organ id (0..13) warns once per volume, naming the file and values.

BTCV label maps hold the 13 organ ids 1..13; the 8 organs of the paper's experiments are kept and
the other five (5 esophagus, 9 IVC, 10 portal/splenic vein, 12/13 adrenal glands) become background
on purpose, silently. A value outside 1..13 (another dataset's labels, a corrupted or relabelled
file) also became background without a word, where the original loader kept it as foreground in
the binary task.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402

SIZE = 16


def _write(path: Path, array: np.ndarray) -> None:
    import SimpleITK as sitk

    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))


def _btcv(root: Path, extra: dict) -> None:
    """Four BTCV volumes with liver (6); ``extra`` adds other label values to a case."""
    vol = np.full((2, SIZE, SIZE), -1000, np.float32)
    vol[:, 4:10, 4:10] = 50
    for cid in ("0001", "0005", "0006", "0008"):
        lab = np.zeros((2, SIZE, SIZE), np.uint8)
        lab[:, 4:10, 4:10] = 6
        for i, value in enumerate(extra.get(cid, ())):
            lab[:, 12, 2 * i] = value
        _write(root / "img" / f"img{cid}.nii.gz", vol)
        _write(root / "label" / f"label{cid}.nii.gz", lab)


def _load(root: Path, run: Path, **fields):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_data(DataSection(kind="btcv", root=str(root), size=SIZE, val_fraction=0.5, **fields), run,
                  parts=("train", "val", "test"))
    return [str(w.message) for w in caught]


def test_btcv_value_outside_the_organ_ids_warns_once_naming_file_and_values(tmp_path):
    _btcv(tmp_path / "b", {"0005": (14, 200), "0006": (5, 9, 10, 12, 13)})
    messages = _load(tmp_path / "b", tmp_path / "run")
    odd = [m for m in messages if "label0005" in m]
    assert len(odd) == 1, messages
    assert "14" in odd[0] and "200" in odd[0]
    assert not [m for m in messages if "label0006" in m], messages  # known-but-unused organ ids: silent


def test_btcv_known_unused_organ_ids_stay_silent_with_data_classes(tmp_path):
    _btcv(tmp_path / "b", {"0006": (5, 9), "0001": (77,)})
    messages = _load(tmp_path / "b", tmp_path / "run", multiclass=True,
                     classes=[{"name": "liver", "labels": [6]}])
    assert not [m for m in messages if "label0006" in m], messages
    assert [m for m in messages if "label0001" in m and "77" in m], messages
