"""zlib-ng and the standard zlib are interchangeable: files written with one read with the other, and with
pynrrd (an independent reader); corrupt gzip NRRD data is refused by name with either."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from io_test_helpers import geometry_for, marker_array, rotation, use_deflate

from SDSegLogic.errors import InputError
from SDSegLogic.io import _deflate, read_image
from SDSegLogic.io._nrrd_write import write_gzip_member, write_nrrd


def _noisy_volume() -> np.ndarray:
    """(6, 10, 12) int16 with noise, so each deflate call has real work (not one long run of zeros)."""
    rng = np.random.default_rng(3)
    return (marker_array() + rng.integers(-40, 40, size=marker_array().shape)).astype(np.int16)


@pytest.mark.parametrize("writer,reader", [("zlib-ng", "zlib"), ("zlib", "zlib-ng"), ("zlib-ng", "zlib-ng")])
def test_nrrd_written_with_one_implementation_reads_with_the_other(tmp_path, writer, reader):
    import nrrd

    volume, geometry = _noisy_volume(), geometry_for(rotation(20, 10))
    restore = use_deflate(writer)
    try:
        write_nrrd(tmp_path / "v.nrrd", volume, geometry, {})
    finally:
        restore()
    restore = use_deflate(reader)
    try:
        data = read_image(tmp_path / "v.nrrd")
    finally:
        restore()
    assert np.array_equal(data.array, volume)
    geometry.require_same(data.geometry)
    assert np.array_equal(nrrd.read(str(tmp_path / "v.nrrd"), index_order="C")[0], volume)


@pytest.mark.parametrize("name", ["zlib-ng", "zlib"])
def test_parallel_gzip_member_is_one_standard_member(tmp_path, name):
    """Chunks deflated on several threads (primed with the previous 32 KiB) join into one member that
    the standard gzip module reads back, with the right CRC and length, whichever library deflated it."""
    data = np.random.default_rng(5).integers(0, 4, size=3 * (1 << 20) + 12345, dtype=np.uint8).tobytes()
    restore = use_deflate(name)
    try:
        with open(tmp_path / "x.gz", "wb") as fh:
            write_gzip_member(fh, memoryview(data), level=6, workers=3)
    finally:
        restore()
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == data


@pytest.mark.parametrize("name", ["zlib-ng", "zlib"])
def test_corrupt_gzip_nrrd_is_refused_by_name(tmp_path, name):
    write_nrrd(tmp_path / "v.nrrd", _noisy_volume(), geometry_for(np.eye(3)), {})
    raw = (tmp_path / "v.nrrd").read_bytes()
    start = raw.index(b"\n\n") + 2
    flipped = bytearray(raw)
    flipped[start + (len(raw) - start) // 2] ^= 0xFF
    (tmp_path / "flip.nrrd").write_bytes(bytes(flipped))
    (tmp_path / "cut.nrrd").write_bytes(raw[:start + (len(raw) - start) // 2])
    restore = use_deflate(name)
    try:
        for bad in ("flip.nrrd", "cut.nrrd"):
            with pytest.raises(InputError, match="truncated|corrupt") as info:
                read_image(tmp_path / bad)
            assert bad in str(info.value)
    finally:
        restore()


def test_sdseg_deflate_zlib_forces_the_standard_library_and_names_are_checked():
    import os
    import subprocess
    import sys

    code = "from SDSegLogic.io._deflate import implementation, zlib_module; print(implementation(), zlib_module().__name__)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "SDSEG_DEFLATE": "zlib"}, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["zlib", "zlib"]
    with pytest.raises(ValueError, match="choose 'zlib-ng' or 'zlib'"):
        _deflate.select("pigz")
