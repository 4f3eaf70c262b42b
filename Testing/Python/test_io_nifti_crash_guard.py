"""NIfTI-1 headers that crash SimpleITK are refused by name before ITK opens the file.

A differential fuzzer found header combinations that make ITK's NiftiImageIO overrun its voxel
buffer (segfault or abort, or a silently corrupted heap for small images): colour/complex voxels
with a vector intent, rescaled colour voxels, colour voxels with dim[5..7] > 1, and rescaled
vector images. Each crash case is read in a child process, so a regression shows up as a failed
test (return code -11 / -6) instead of taking the test run down. Valid relatives of each case
(plain RGB, 4-D RGB series, vector images without rescale, Analyze-magic RGB) still read.
"""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

#: NIfTI-1 datatype code -> bytes per voxel, for the codes used here
_BYTES = {2: 1, 4: 2, 16: 4, 32: 8, 128: 3, 1536: 16, 2304: 4}


def nifti1(dims, datatype: int, *, intent: int = 0, slope: float = 0.0, intercept: float = 0.0,
           bitpix: int = 0, magic: bytes = b"n+1\0", data: bytes = b"", short: int = 0) -> bytes:
    """A single-file little-endian NIfTI-1 image, voxels right after the header.

    The qform code is 1 (identity) for a NIfTI magic, 0 otherwise (ITK reads Analyze then, whose
    orientation contradicts a NIfTI transform).

    Args:
        dims: dim[1..n]; dim[0] = len(dims).
        bitpix: written as given when not 0, else the datatype's size.
        data: the voxel bytes; by default a ramp of the size the datatype and dims announce.
        short: bytes cut off the end of the default voxels.
    """
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, len(dims), *dims, *([1] * (7 - len(dims))))
    struct.pack_into("<hhh", header, 68, intent, datatype, bitpix or _BYTES[datatype] * 8)
    struct.pack_into("<8f", header, 76, 1.0, *([1.0] * 7))
    struct.pack_into("<fff", header, 108, 352.0, slope, intercept)
    struct.pack_into("<hh", header, 252, 1 if magic[3:] == b"\0" else 0, 0)
    header[344:348] = magic
    if not data:
        count = int(np.prod(dims)) * _BYTES[datatype] - short
        data = (np.arange(count) % 251).astype(np.uint8).tobytes()
    return bytes(header) + bytes(4) + data


#: name -> (header bytes, fields and values the message must name); each crashed or corrupted memory
#: in SimpleITK 2.5 / ITK 5.4 before the guard (the large ones reliably segfault or abort)
CRASH_CASES = {
    "rgb24-vector-intent": (nifti1((40, 30, 4), 128, intent=1007), ["intent_code 1007", "datatype 128 (RGB24)"]),
    "rgba32-vector-5d": (nifti1((40, 30, 4, 1, 2), 2304, intent=1007), ["intent_code 1007", "datatype 2304 (RGBA32)"]),
    "rgb24-dispvect-2d": (nifti1((300, 300), 128, intent=1006), ["intent_code 1006", "DISPVECT"]),
    "complex64-vector": (nifti1((40, 30, 4), 32, intent=1007), ["datatype 32 (COMPLEX64)", "complex"]),
    "rgb24-rescaled": (nifti1((300, 300, 1), 128, slope=2.0), ["scl_slope 2", "datatype 128 (RGB24)"]),
    "rgba32-intercept": (nifti1((300, 300, 1), 2304, intercept=5.0), ["scl_inter 5", "datatype 2304 (RGBA32)"]),
    "rgb24-5d-four": (nifti1((300, 300, 1, 1, 4), 128), ["dim [5, 300, 300, 1, 1, 4, 1, 1]", "dim[5..7]"]),
    "int16-vector-rescaled": (nifti1((200, 200, 1, 1, 3), 4, intent=1007, slope=2.0),
                              ["intent_code 1007", "dim[5] = 3", "datatype 4 (INT16)", "scl_slope 2"]),
    "uint8-dispvect-intercept": (nifti1((200, 200, 1, 1, 3), 2, intent=1006, intercept=5.0),
                                 ["intent_code 1006", "scl_inter 5"]),
}

_CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image
for path in sys.argv[1:]:
    try:
        read_image(path, frame=0)
        print(json.dumps({"path": path, "error": None}), flush=True)
    except InputError as exc:
        print(json.dumps({"path": path, "error": str(exc)}), flush=True)
"""


def _read_in_child(*paths) -> list:
    """Read each path with ``read_image`` in one child process; a crash there fails the test, not the run."""
    done = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"the reader crashed (return code {done.returncode}): {done.stderr[-2000:]}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("case", sorted(CRASH_CASES))
def test_crash_prone_headers_are_refused_by_field_in_a_child_process(tmp_path, case):
    raw, names = CRASH_CASES[case]
    plain, packed = tmp_path / f"{case}.nii", tmp_path / f"{case}.nii.gz"
    plain.write_bytes(raw)
    packed.write_bytes(gzip.compress(raw, 1))
    results = _read_in_child(plain, packed)
    assert [r["path"] for r in results] == [str(plain), str(packed)]
    for result in results:
        message = result["error"]
        assert message is not None, f"{result['path']} was read instead of refused"
        assert message.startswith(result["path"] + ": NIfTI"), message
        for name in names:
            assert name in message, (name, message)
        assert "Re-save" in message or "Save real-valued" in message, message


def test_the_guard_runs_before_simpleitk_sees_the_file(tmp_path, monkeypatch):
    """The refusal happens on the raw header: no SimpleITK reader is created for a crash-prone file."""
    import SimpleITK as sitk

    def no_itk(*args, **kwargs):
        raise AssertionError("SimpleITK was asked to open a crash-prone file")

    monkeypatch.setattr(sitk, "ImageFileReader", no_itk)
    monkeypatch.setattr(sitk, "ReadImage", no_itk)
    for case in ("rgb24-vector-intent", "rgb24-rescaled", "int16-vector-rescaled"):
        (tmp_path / f"{case}.nii").write_bytes(CRASH_CASES[case][0])
        with pytest.raises(InputError, match=f"{case}.nii: NIfTI "):
            read_image(tmp_path / f"{case}.nii", frame=0)


def test_unknown_datatype_is_refused_by_code(tmp_path):
    (tmp_path / "f128.nii").write_bytes(nifti1((4, 5, 6), 1536))
    with pytest.raises(InputError, match=r"f128.nii: NIfTI datatype 1536 \(FLOAT128\) is not a voxel type"):
        read_image(tmp_path / "f128.nii")


def test_bitpix_understating_the_datatype_cannot_hide_a_short_file(tmp_path):
    """The NIfTI library reads the datatype's size per voxel and zero-fills what is missing; the size check
    now uses the same size, so a bitpix of 8 on RGB24 voxels no longer lets a third of a file pass."""
    voxels = 20 * 30 * 4
    short = nifti1((20, 30, 4), 128, bitpix=8, data=bytes(range(200)) * (voxels // 200))
    for name, raw in (("short.nii", short), ("short.nii.gz", gzip.compress(short))):
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(InputError, match=rf"{name}: the file is truncated \(2,752 of 7,552 bytes"):
            read_image(tmp_path / name)
    (tmp_path / "whole.nii").write_bytes(nifti1((20, 30, 4), 128, bitpix=64))  # overstated: all voxels there
    assert read_image(tmp_path / "whole.nii").is_rgb


def _ramp(count: int) -> np.ndarray:
    return (np.arange(count) % 251).astype(np.uint8)


def test_valid_relatives_of_the_crash_cases_still_read(tmp_path):
    """RGB24/RGBA32 volumes, a 4-D RGB series, a 5-D header with one component, a uint8 vector image
    without rescale, a 4-D int16 series with a rescale and an Analyze-magic RGB file whose rescale ITK
    ignores: each reads as before, voxel for voxel."""
    files = {
        "rgb.nii": nifti1((20, 30, 4), 128),
        "rgb-5d-one.nii": nifti1((20, 30, 4, 1, 1), 128, intent=1002),
        "rgb-series.nii": nifti1((20, 30, 4, 2), 128, slope=1.0),
        "rgba.nii.gz": gzip.compress(nifti1((20, 30, 4), 2304, data=np.full(20 * 30 * 4 * 4, 255, np.uint8).tobytes())),
        "vector.nii": nifti1((20, 30, 4, 1, 2), 2, intent=1007),
        "vector-rgb.nii": nifti1((20, 30, 4, 1, 3), 2, intent=1007),  # what ITK writes for an RGB image
        "series.nii": nifti1((20, 30, 4, 2), 4, slope=2.0, intercept=-1.0),
        "analyze-rgb.nii": nifti1((20, 30, 4), 128, slope=2.0, intercept=3.0, magic=b"n+1 "),
    }
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Analyze file has no transform
        rgb = _ramp(20 * 30 * 4 * 3).reshape(4, 30, 20, 3)
        for name in ("rgb.nii", "rgb-5d-one.nii", "analyze-rgb.nii"):
            data = read_image(tmp_path / name)
            assert data.is_rgb and np.array_equal(data.array, rgb), name
        series = read_image(tmp_path / "rgb-series.nii", frame=1)
        assert series.is_rgb and np.array_equal(series.array, _ramp(2 * 20 * 30 * 4 * 3).reshape(2, 4, 30, 20, 3)[1])
        rgba = read_image(tmp_path / "rgba.nii.gz")
        assert rgba.is_rgb and rgba.array.shape == (4, 30, 20, 3) and np.all(rgba.array == 255)
        components = _ramp(20 * 30 * 4 * 2).reshape(2, 4, 30, 20)  # NIfTI stores the components slowest
        for frame in range(2):
            assert np.array_equal(read_image(tmp_path / "vector.nii", frame=frame).array, components[frame])
        colour = read_image(tmp_path / "vector-rgb.nii")
        assert colour.is_rgb and np.array_equal(colour.array, np.moveaxis(rgb.reshape(3, 4, 30, 20), 0, -1))
        stored = np.frombuffer(_ramp(20 * 30 * 4 * 2 * 2).tobytes(), "<i2").reshape(2, 4, 30, 20)
        np.testing.assert_array_equal(read_image(tmp_path / "series.nii", frame=1).array,
                                      stored[1].astype(np.float32) * 2 - 1)


def test_training_volume_readers_refuse_crash_prone_files_before_simpleitk(tmp_path, monkeypatch):
    """The training package reads volumes with SimpleITK itself; SDSegLogic.io.check_before_itk guards it."""
    import SimpleITK as sitk
    from sdseg_training.data.preprocess import read_oriented, read_volume_lps
    from sdseg_training.errors import DatasetError
    from SDSegLogic.io import check_before_itk

    def no_itk(*args, **kwargs):
        raise AssertionError("SimpleITK was asked to open a crash-prone file")

    monkeypatch.setattr(sitk, "ReadImage", no_itk)
    (tmp_path / "label.nii").write_bytes(CRASH_CASES["rgb24-rescaled"][0])
    for reader in (read_oriented, read_volume_lps):
        with pytest.raises(DatasetError, match=r"label.nii: NIfTI scl_slope 2"):
            reader(str(tmp_path / "label.nii"))
    (tmp_path / "short.nii.gz").write_bytes(gzip.compress(nifti1((20, 30, 4), 4, short=100)))
    with pytest.raises(InputError, match=r"short.nii.gz: the file is truncated"):
        check_before_itk(tmp_path / "short.nii.gz")
    (tmp_path / "fine.nii").write_bytes(nifti1((20, 30, 4), 4))
    check_before_itk(tmp_path / "fine.nii")  # a valid file passes
