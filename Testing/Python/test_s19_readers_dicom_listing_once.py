"""Listing a DICOM folder and then reading it (or reading it and then listing it) scans its headers once.

``sdseg segment`` reads a series, then lists it again for the DICOM SEG's source instances
(:func:`SDSegLogic.io.dicom_sources.load_dicom_sources`); ``sdseg score`` lists a case folder, then reads it.
Each listing used to scan every header of the folder again with GDCM (``GetGDCMSeriesIDs``, then one
``GetGDCMSeriesFileNames`` per series, then a header read per file). The calls are counted by a spy around the
real SimpleITK methods.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pydicom
import pytest

from io_test_helpers import geometry_for, rotation, write_dicom_series
from SDSegLogic.errors import GeometryError
from SDSegLogic.io.dicom_sources import load_dicom_sources
from SDSegLogic.io.readers import read_image

sitk = pytest.importorskip("SimpleITK")

SHAPE = (5, 6, 7)


class ListingCounter:
    """Counts GDCM folder listings (``ImageSeriesReader.GetGDCMSeriesIDs``) around the real method."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = sitk.ImageSeriesReader.GetGDCMSeriesIDs

        def counting(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(sitk.ImageSeriesReader, "GetGDCMSeriesIDs", staticmethod(counting))


def _series(folder, age_s: float = 60.0):
    """A CT series in ``folder`` whose files were last written ``age_s`` seconds ago."""
    folder.mkdir()
    values = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    write_dicom_series(folder, values, geometry_for(rotation(20, 10), SHAPE), intercept=0.0)
    then = time.time() - age_s
    for path in folder.iterdir():
        os.utime(path, (then, then))
    return values


def test_reading_then_listing_scans_the_folder_once(tmp_path, monkeypatch):
    """Before: two GDCM listings (read_image, then load_dicom_sources); the sources are the same either way."""
    folder = tmp_path / "ct"
    values = _series(folder)
    counter = ListingCounter(monkeypatch)
    image = read_image(folder)
    sources = load_dicom_sources(folder, image.geometry)
    assert counter.calls == 1
    np.testing.assert_array_equal(image.array, values)
    assert [int(ds.InstanceNumber) for ds in sources.datasets] == [1, 2, 3, 4, 5]
    read_image(folder / "slice_002.dcm")  # a file of the same folder: the same listing
    assert counter.calls == 1


def test_a_changed_folder_is_listed_again(tmp_path, monkeypatch):
    """A slice moved (same file size, an older time stamp than before) or a file added: the folder is listed anew."""
    folder = tmp_path / "ct"
    _series(folder)
    counter = ListingCounter(monkeypatch)
    read_image(folder)
    moved = folder / "slice_004.dcm"
    ds = pydicom.dcmread(moved)
    position = [float(v) for v in ds.ImagePositionPatient]
    ds.ImagePositionPatient = [f"{v:.6f}" for v in np.add(position, 3.5 * np.asarray(rotation(20, 10))[:, 2])]
    size = moved.stat().st_size
    ds.save_as(moved)
    assert moved.stat().st_size == size
    then = time.time() - 30.0
    os.utime(moved, (then, then))
    with pytest.raises(GeometryError, match="not uniform"):
        read_image(folder)
    assert counter.calls == 2


def test_a_folder_just_written_is_never_taken_from_memory(tmp_path, monkeypatch):
    """A file rewritten at the same size right after a read (time stamps too coarse to tell) is still seen."""
    folder = tmp_path / "ct"
    _series(folder, age_s=0.0)
    read_image(folder)
    moved = folder / "slice_004.dcm"
    ds = pydicom.dcmread(moved)
    position = [float(v) for v in ds.ImagePositionPatient]
    ds.ImagePositionPatient = [f"{v:.6f}" for v in np.add(position, 3.5 * np.asarray(rotation(20, 10))[:, 2])]
    ds.save_as(moved)
    stamp = moved.stat().st_mtime_ns
    os.utime(moved, ns=(stamp, stamp))
    with pytest.raises(GeometryError, match="not uniform"):
        read_image(folder)
