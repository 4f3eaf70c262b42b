"""A folder whose series mixes an enhanced multi-frame file with single-frame files never crashes the process.

GDCM's sort of such a series (SimpleITK ``ImageSeriesReader.GetGDCMSeriesFileNames``) dies with a
segmentation fault in about half of the processes that list the folder (SimpleITK 2.5.7: 92 of 200
fresh processes here), which killed ``sdseg`` and the engine. The outcome is fixed per process (a
process whose first listing survives survives them all), so the listing is repeated in many fresh
processes: none may die by a signal. The series is still listed whole, refused as a folder with the
remedy, and its multi-frame file is read when named.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from io_test_helpers import geometry_for, marker_array, rotation, write_dicom_series, write_enhanced_dicom
from SDSegLogic.errors import GeometryError, InputError

pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")

REPO = Path(__file__).resolve().parents[2]
SERIES = "1.2.826.0.1.3680043.2.1125.7.2"  # write_enhanced_dicom's SeriesInstanceUID
PROCESSES = 30  # 44 of 100 died before the fix: 30 survivors by chance would be p < 1e-7
LISTING = ("import sys; from pathlib import Path; from SDSegLogic.io._dicom import list_series; "
           "folder, series = list_series(Path(sys.argv[1])); print(sorted(Path(f).name for f in series[sys.argv[2]]))")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Six single-frame slices and one enhanced CT file of the same six slices, all of one series."""
    folder = tmp_path_factory.mktemp("mixed")
    hu, grid = marker_array(), geometry_for(rotation(20, 10), spacing=(0.5, 0.9, 2.5))
    write_enhanced_dicom(folder / "mf.dcm", hu, grid)
    write_dicom_series(folder, hu, grid, series_uid=SERIES)
    return folder


def _list_in_a_fresh_process(folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", LISTING, str(folder), SERIES], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_listing_a_mixed_series_never_kills_the_process(mixed):
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(_list_in_a_fresh_process, [mixed] * PROCESSES))
    killed = [run.returncode for run in runs if run.returncode != 0]
    assert not killed, f"{len(killed)} of {PROCESSES} listings died (exit codes {sorted(set(killed))}): {runs[0].stderr}"
    expected = str(sorted(["mf.dcm"] + [f"slice_{k:03d}.dcm" for k in range(6)]))
    assert {run.stdout.strip() for run in runs} == {expected}  # the whole series, every time


def test_the_mixed_folder_is_refused_and_its_multiframe_file_read_when_named(mixed):
    from SDSegLogic.io import read_image

    with pytest.raises(InputError, match=r"holds 7 files, of which 1 multi-frame .*mf.dcm \(6 frames\).*Name the"):
        read_image(mixed)
    data = read_image(mixed / "mf.dcm")
    assert np.array_equal(data.array, marker_array())
    with pytest.raises(InputError, match="multi-frame"):
        read_image(mixed / "slice_002.dcm")  # a single-frame file of the mixed series: same refusal


def test_dicom_seg_sources_of_a_mixed_series_are_refused_by_name(mixed):
    from SDSegLogic.io.dicom_sources import load_dicom_sources

    grid = geometry_for(rotation(20, 10), spacing=(0.5, 0.9, 2.5))
    with pytest.raises(GeometryError, match="mf.dcm is a multi-frame DICOM image"):
        load_dicom_sources(mixed, grid, series=SERIES)


def test_series_without_multiframe_files_keep_gdcms_position_order(tmp_path):
    """Slices named against their position order: the listing is GDCM's sort by position, not the names."""
    from SDSegLogic.io._dicom import list_series

    hu, grid = marker_array(), geometry_for(np.eye(3), spacing=(0.5, 0.9, 2.5))
    names = write_dicom_series(tmp_path, hu, grid, series_uid=SERIES)
    for k, name in enumerate(names):  # slice k -> z_{5-k}.dcm: names sort against the positions
        os.rename(name, tmp_path / f"z_{5 - k}.dcm")
    write_enhanced_dicom(tmp_path / "other-series.dcm", hu, grid)  # a multi-frame file of ...
    import pydicom

    ds = pydicom.dcmread(str(tmp_path / "other-series.dcm"))
    ds.SeriesInstanceUID = SERIES + ".9"  # ... another series: not mixed with the slices
    ds.save_as(str(tmp_path / "other-series.dcm"))
    import SimpleITK as sitk

    _, series = list_series(tmp_path)
    gdcm = sitk.ImageSeriesReader().GetGDCMSeriesFileNames(str(tmp_path), SERIES)  # safe: no multi-frame file in it
    assert [Path(f).name for f in series[SERIES]] == [Path(f).name for f in gdcm]
    assert [Path(f).name for f in gdcm] == [f"z_{5 - k}.dcm" for k in range(6)]  # by position, not by name
    assert [Path(f).name for f in series[SERIES + ".9"]] == ["other-series.dcm"]
