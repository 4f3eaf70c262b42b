"""One test (at least) per row of the edge-case table (reliability-anchors.md section 1).

Row 20 (a Slicer parent transform) is handled by the Slicer adapter, not by the engine; rows 2,
17 and 21 (several series) are also covered in test_io_readers.py, row 3 in test_geometry*.py.
Rows about files on disk (12-14, 16, 24) are in test_edge_cases_files.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import (ThresholdPredictor, geometry_for, make_card, marker_array, rotation, signed_permutations,
                             sitk_image, write_dicom_series)

from SDSegLogic.errors import GeometryError, InputError, ModelCardError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image, validate_seg_header, write_segmentation
from SDSegLogic.model_card import SegmentClass
from SDSegLogic.segment import segment_array


def _segment(array, geometry, card=None, **kwargs):
    card = card or make_card()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return segment_array(array, geometry, ThresholdPredictor(card, 32), **kwargs)


def _write_nrrd(path, array, **header):
    import nrrd

    base = {"space": "left-posterior-superior", "space directions": np.eye(3), "space origin": np.zeros(3),
            "kinds": ["domain"] * 3}
    base.update(header)
    nrrd.write(str(path), array, base, index_order="C")
    return path


# ---------------------------------------------------------------- rows 1, 3, 4, 5, 6: geometry
def test_row01_oblique_direction_is_copied_bit_for_bit():
    g = geometry_for(rotation(30, 10))
    with pytest.warns(UserWarning, match="oblique by 31.5 degrees"):
        result = segment_array(marker_array(), g, ThresholdPredictor(make_card(), 32))
    assert result.geometry.direction == g.direction and result.geometry is g
    assert np.array_equal(result.labels, (marker_array() > 0).astype(np.uint8))


def test_row02_unknown_nrrd_space_is_rejected(tmp_path):
    path = _write_nrrd(tmp_path / "scanner.nrrd", np.zeros((2, 3, 4), np.int16), space="scanner-xyz")
    with pytest.raises(InputError, match="space 'scanner-xyz' is not supported"):
        read_image(path)


@pytest.mark.parametrize("index", range(0, 48, 5))
def test_row03_flipped_axes_land_on_the_same_voxels(index):
    g = geometry_for(signed_permutations()[index])
    assert np.array_equal(_segment(marker_array(), g).labels, (marker_array() > 0).astype(np.uint8))


def test_row04_sagittal_acquisition_is_sliced_axially_with_a_warning():
    # i -> Posterior, j -> Inferior, k -> Left: a sagittal stack
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float)
    g = geometry_for(direction)
    with pytest.warns(UserWarning, match="stored as sagittal slices but the model cuts axial"):
        with pytest.warns(UserWarning, match="in-plane spacing 7 x 0.5 mm is anisotropic"):
            result = segment_array(marker_array(), g, ThresholdPredictor(make_card(), 32))
    assert result.plan.reorientation.slice_source_axis == 1  # input j (S-I) is the model's slicing axis
    assert np.array_equal(result.labels, (marker_array() > 0).astype(np.uint8))


def test_row05_anisotropic_spacing_keeps_axis_order(tmp_path):
    import nrrd

    g = geometry_for(np.eye(3), spacing=(0.5, 0.9, 7.0))
    result = _segment(marker_array(), g)
    assert result.geometry.spacing == (0.5, 0.9, 7.0)
    header = nrrd.read_header(str(write_segmentation(tmp_path / "a.seg.nrrd", result, make_card())))
    np.testing.assert_allclose(np.linalg.norm(header["space directions"], axis=1), [0.5, 0.9, 7.0])


def test_row06_single_slice_stays_3d():
    g = ImageGeometry((0.8, 0.8, 3.0), (0, 0, 0), np.eye(3), (48, 64, 1))
    array = np.full((1, 64, 48), -1000.0, dtype=np.float32)
    array[0, 10:20, 5:9] = 500.0
    result = _segment(array, g)
    assert result.labels.shape == (1, 64, 48) and result.geometry.spacing[2] == 3.0
    assert np.array_equal(result.labels[0] > 0, array[0] > 0)


def test_row06_single_sagittal_slice_is_sliced_along_its_thin_axis():
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float)  # k -> Left, thin
    g = ImageGeometry((1.0, 1.0, 1.0), (0, 0, 0), direction, (40, 30, 1))
    array = np.full((1, 30, 40), -1000.0, dtype=np.float32)
    array[0, 5:12, 20:31] = 400.0
    with pytest.warns(UserWarning, match="single sagittal slice"):
        result = segment_array(array, g, ThresholdPredictor(make_card(), 32))
    assert result.plan.reorientation.slice_source_axis == 2 and result.plan.in_plane in ((30, 40), (40, 30))
    assert np.array_equal(result.labels[0] > 0, array[0] > 0)


# ---------------------------------------------------------------- rows 7, 8, 9: layout
def test_row07_2d_photo_gives_a_3d_seg_nrrd(tmp_path):
    import slicerio
    from PIL import Image

    rgb = np.zeros((40, 50, 3), dtype=np.uint8)
    rgb[5:15, 30:45] = (250, 200, 180)
    Image.fromarray(rgb).save(tmp_path / "polyp.png")
    card = make_card(kind="rgb", channels=3, orientation="LPS")
    data = read_image(tmp_path / "polyp.png")
    result = _segment(data.array, data.geometry, card)
    seg = slicerio.read_segmentation(str(write_segmentation(tmp_path / "polyp.seg.nrrd", result, card)))
    assert seg["voxels"].shape == (50, 40, 1)
    assert np.array_equal(seg["voxels"][:, :, 0].T > 0, rgb.sum(axis=-1) > 0)


def test_row08_4d_nrrd_needs_a_frame(tmp_path):
    frames = np.stack([np.full((3, 4, 5), v, np.int16) for v in (10, 20)])  # (T, K, J, I)
    path = _write_nrrd(tmp_path / "dwi.nrrd", np.moveaxis(frames, 0, -1),
                       kinds=["list", "domain", "domain", "domain"],
                       **{"space directions": np.vstack([[np.nan] * 3, np.eye(3)])})
    with pytest.raises(InputError, match="4-D image with 2 frames.*frame=0..1"):
        read_image(path)
    assert np.all(read_image(path, frame=1).array == 20)
    with pytest.raises(InputError, match="out of range"):
        read_image(path, frame=2)


def test_row08_4d_nifti_needs_a_frame(tmp_path):
    import SimpleITK as sitk

    volumes = [sitk.GetImageFromArray(np.full((3, 4, 5), v, np.int16)) for v in (1, 2, 3)]
    sitk.WriteImage(sitk.JoinSeries(volumes), str(tmp_path / "fmri.nii.gz"))
    with pytest.raises(InputError, match="3 frames"):
        read_image(tmp_path / "fmri.nii.gz")
    data = read_image(tmp_path / "fmri.nii.gz", frame=2)
    assert data.array.shape == (3, 4, 5) and np.all(data.array == 3)


def test_row09_rgba_and_channel_mismatch(tmp_path):
    from PIL import Image

    rgba = np.full((6, 7, 4), 255, dtype=np.uint8)
    rgba[..., 0] = 40
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    with pytest.warns(UserWarning, match="alpha"):
        assert read_image(tmp_path / "opaque.png").array.shape == (1, 6, 7, 3)
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba).save(tmp_path / "transparent.png")
    with pytest.raises(InputError, match="transparent alpha"):
        read_image(tmp_path / "transparent.png")
    g = ImageGeometry.identity((7, 6, 1))
    rgb = np.repeat(np.linspace(0, 255, 42, dtype=np.float32).reshape(1, 6, 7, 1), 3, axis=-1)
    with pytest.warns(UserWarning, match="colour image given to a 1-channel"):
        segment_array(rgb, g, ThresholdPredictor(make_card(kind="minmax"), 32))
    with pytest.raises(InputError, match="strict"):
        segment_array(rgb, g, ThresholdPredictor(make_card(kind="minmax"), 32), strict_channels=True)
    with pytest.warns(UserWarning, match="grayscale image given to a colour"):
        segment_array(rgb[..., 0], g, ThresholdPredictor(make_card(kind="rgb", channels=3), 32))


# ---------------------------------------------------------------- rows 10, 11: values
def test_row10_nan_and_inf_are_rejected_or_filled():
    g = geometry_for(np.eye(3))
    array = marker_array()
    array[2, 3, 4] = np.nan
    array[5, 0, 0] = np.inf
    with pytest.raises(InputError, match=r"2 voxel value\(s\) are NaN or infinite \(first at index \(k, j, i\) = \(2, 3, 4\)\)"):
        segment_array(array, g, ThresholdPredictor(make_card(), 32))
    with pytest.warns(UserWarning, match="replaced 2"):
        result = segment_array(array, g, ThresholdPredictor(make_card(), 32), nan_policy="fill")
    assert np.all(np.isfinite(result.probabilities)) and result.labels[2, 3, 4] == 0


@pytest.mark.parametrize("value, kind", [(0.0, "window"), (-1024.0, "window"), (7.0, "minmax")])
def test_row11_constant_image_gives_empty_mask_and_warning(value, kind):
    g = geometry_for(np.eye(3))
    with pytest.warns(UserWarning, match="no foreground"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*constant")
        result = segment_array(np.full(g.array_shape, value, np.float32), g, ThresholdPredictor(make_card(kind=kind), 32))
    assert result.labels.dtype == np.uint8 and not result.labels.any()
    assert np.all(np.isfinite(result.probabilities))


# ---------------------------------------------------------------- row 15 (rows 12-14, 16, 24: test_edge_cases_files.py)
def test_row15_non_ascii_and_spaced_paths(tmp_path):
    import SimpleITK as sitk

    folder = tmp_path / "données 患者 ü"
    folder.mkdir()
    g = geometry_for(np.eye(3))
    for name in ("in put.nrrd", "in put.nii.gz"):
        sitk.WriteImage(sitk_image(marker_array(), g), str(folder / name))
        data = read_image(folder / name)
        result = _segment(data.array, data.geometry)
        for out in ("seg ü.seg.nrrd", "lab ü.nii.gz"):
            written = write_segmentation(folder / out, result, make_card(), input_path=folder / name)
            assert written.exists()
        assert np.array_equal(read_image(folder / "lab ü.nii.gz").array, result.labels)


# ---------------------------------------------------------------- rows 17-19: values and headers
def test_row17_raw_ct_values_warn(tmp_path):
    g = geometry_for(np.eye(3))
    with pytest.warns(UserWarning, match="raw stored values"):
        segment_array(marker_array() + 1024.0 * 3, g, ThresholdPredictor(make_card(), 32))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "float32", "float64"])
def test_row18_every_dtype_becomes_float32(tmp_path, dtype):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    values = np.array([info.min, info.max, 0, 1] if info else [-1e30, 1e30, 0.5, -2.25], dtype=dtype)
    array = np.resize(values, (2, 3, 4)).astype(dtype)
    data = read_image(_write_nrrd(tmp_path / f"{dtype}.nrrd", array))
    assert data.array.dtype == np.float32 and data.metadata["original_dtype"] == dtype
    np.testing.assert_array_equal(data.array, array.astype(np.float32))


def _nifti_with(tmp_path, name, srow=None, quatern=None):
    import SimpleITK as sitk

    path = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16)), str(path))
    raw = bytearray(path.read_bytes())
    if srow is not None:
        raw[280:328] = np.asarray(srow, dtype="<f4").tobytes()
    if quatern is not None:
        raw[256:268] = np.asarray(quatern, dtype="<f4").tobytes()
    path.write_bytes(bytes(raw))
    return path


def test_row19_sheared_or_ambiguous_transforms_are_rejected(tmp_path):
    sheared = _nifti_with(tmp_path, "shear.nii", srow=[-1, 0.4, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0])
    with pytest.raises(GeometryError, match="sform is sheared"):
        read_image(sheared)
    mismatch = _nifti_with(tmp_path, "mismatch.nii", quatern=[0.0, 0.0, 0.3826834])
    with pytest.raises(GeometryError, match="qform and sform describe different positions"):
        read_image(mismatch)
    nrrd_path = _write_nrrd(tmp_path / "shear.nrrd", np.zeros((2, 3, 4), np.int16),
                            **{"space directions": np.array([[1, 0, 0], [0.5, 1, 0], [0, 0, 1]], float)})
    with pytest.raises(GeometryError, match="not orthonormal"):
        read_image(nrrd_path)


# ---------------------------------------------------------------- rows 21-23, 25
def test_row21_dicom_missing_slice_and_gantry_tilt(tmp_path):
    hu, g = marker_array(), geometry_for(np.eye(3), spacing=(0.7, 0.7, 2.0))
    (tmp_path / "gap").mkdir()
    write_dicom_series(tmp_path / "gap", hu, g, skip=(3,))
    with pytest.raises(GeometryError, match="not uniform .*missing"):
        read_image(tmp_path / "gap")
    (tmp_path / "tilt").mkdir()
    write_dicom_series(tmp_path / "tilt", hu, g, shift=(0.0, 0.6, 0.0))
    with pytest.raises(GeometryError, match="gantry tilt"):
        read_image(tmp_path / "tilt")


def test_row22_label_values_fit_uint8_and_more_than_255_are_refused():
    with pytest.raises(ModelCardError, match="1..255"):
        SegmentClass(name="x", label_value=300).validate("card")
    result = _segment(np.full(geometry_for(np.eye(3)).array_shape, -1000.0), geometry_for(np.eye(3)), make_card(3))
    assert result.labels.dtype == np.uint8 and result.voxel_counts == {"liver": 0, "spleen": 0, "kidney": 0}


def test_row23_mismatched_grids_are_refused():
    g = geometry_for(np.eye(3))
    with pytest.raises(GeometryError, match="origin"):
        g.require_same(ImageGeometry(g.spacing, np.add(g.origin, (0, 0.5, 0)), g.direction, g.shape), what="channel 2")


@pytest.mark.parametrize("field, value, message", [
    ("Segment1_ID", "Segment_1", "duplicated"),
    ("Segment0_Color", "1.5 0 0", "Color"),
    ("Segment1_Extent", "0 20 0 1 0 1", "outside the image"),
    ("Segment0_Layer", "1", "outside 0..0"),
    ("Segment1_LabelValue", "0", "must be > 0"),
])
def test_row25_malformed_seg_nrrd_metadata(tmp_path, field, value, message):
    import nrrd

    card = make_card(2)
    result = _segment(marker_array(), geometry_for(np.eye(3)), card)
    path = write_segmentation(tmp_path / "ok.seg.nrrd", result, card)
    header = nrrd.read_header(str(path))
    assert len(validate_seg_header(header)) == 2
    header[field] = value
    with pytest.raises(InputError, match=message):
        validate_seg_header(header, "edited.seg.nrrd")
    with pytest.raises(InputError, match="Slicer segmentation, not an image"):
        read_image(path)
