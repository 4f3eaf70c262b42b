"""Writers: .seg.nrrd (read back by slicerio, pynrrd and SimpleITK), labelmaps, float volumes, previews."""

from __future__ import annotations

import os

import numpy as np
import pytest
from io_test_helpers import ThresholdPredictor, geometry_for, make_card, marker_array, rotation, sitk_image

from SDSegLogic.errors import GeometryError, InputError
from SDSegLogic.io import read_image, validate_seg_header, write_float_volume, write_preview, write_segmentation
from SDSegLogic.io.readers import image_data_from_array
from SDSegLogic.io.seg_nrrd import terminology_string
from SDSegLogic.segment import segment_array


@pytest.fixture
def two_class():
    card = make_card(2)
    g = geometry_for(rotation(15, 5))
    array = marker_array()
    array[array > 0] = 200.0
    array[0] = np.where(array[0] > 0, 30.0, array[0])  # the k = 0 part of the marker is the second class
    with pytest.warns(UserWarning):
        result = segment_array(array, g, ThresholdPredictor(card, 32, bounds=(-0.5, 0.5)), seed=7)
    return card, g, array, result


def test_seg_nrrd_is_read_by_slicerio_with_names_labels_voxels(tmp_path, two_class):
    import slicerio

    card, g, _, result = two_class
    assert result.voxel_counts["liver"] > 0 and result.voxel_counts["spleen"] > 0
    path = write_segmentation(tmp_path / "out.seg.nrrd", result, card)
    seg = slicerio.read_segmentation(str(path))
    assert [s["name"] for s in seg["segments"]] == ["liver", "spleen"]
    assert [s["labelValue"] for s in seg["segments"]] == [1, 2]
    assert [s["id"] for s in seg["segments"]] == ["Segment_1", "Segment_2"]
    assert seg["segments"][0]["terminology"]["type"] == ["SCT", "10200004", "Liver"]
    assert seg["segments"][1]["tags"]["SDSeg.ModelId"] == "test-model"
    assert seg["segments"][1]["tags"]["SDSeg.Seed"] == "7"
    np.testing.assert_allclose(seg["ijkToLPS"], g.ijk_to_lps(), atol=1e-12)
    voxels = np.transpose(seg["voxels"], (2, 1, 0))  # slicerio gives (i, j, k)
    assert np.array_equal(voxels, result.labels)
    full = [0, g.shape[0] - 1, 0, g.shape[1] - 1, 0, g.shape[2] - 1]
    for segment in seg["segments"]:  # Slicer crops the shared layer to its first segment's extent
        assert segment["extent"] == full


def test_seg_nrrd_header_and_sitk_reader(tmp_path, two_class):
    import nrrd
    import SimpleITK as sitk

    card, g, _, result = two_class
    path = write_segmentation(tmp_path / "out.seg.nrrd", result, card)
    header = nrrd.read_header(str(path))
    assert header["space"] == "left-posterior-superior" and header["kinds"] == ["domain"] * 3
    assert header["type"] == "unsigned char" and list(header["sizes"]) == [12, 10, 6]
    assert header["Segmentation_MasterRepresentation"] == "Binary labelmap"
    assert header["Segmentation_ReferenceImageExtentOffset"] == "0 0 0"
    assert "TerminologyEntry:Segmentation category and type - 3D Slicer General Anatomy list~SCT^123037004^" \
           "Anatomical Structure~SCT^10200004^Liver~^^~Anatomic codes - DICOM master list~^^~^^|" \
           in header["Segment0_Tags"]
    image = sitk.ReadImage(str(path))
    assert np.array_equal(sitk.GetArrayFromImage(image), result.labels)
    np.testing.assert_allclose(image.GetOrigin(), g.origin, atol=1e-9)
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), g.direction_matrix, atol=1e-12)
    assert len(validate_seg_header(header, str(path))) == 2


def test_empty_result_still_lists_every_segment(tmp_path):
    import slicerio

    card = make_card(3)
    g = geometry_for(np.eye(3))
    with pytest.warns(UserWarning, match="no foreground"):
        result = segment_array(np.full(g.array_shape, -1000.0), g, ThresholdPredictor(card, 32, bounds=(0.5, 0.7, 0.9)))
    seg = slicerio.read_segmentation(str(write_segmentation(tmp_path / "empty.seg.nrrd", result, card)))
    assert [s["name"] for s in seg["segments"]] == ["liver", "spleen", "kidney"]
    assert all(s["extent"] == [0, -1, 0, -1, 0, -1] for s in seg["segments"])
    assert not seg["voxels"].any()


@pytest.mark.parametrize("name", ["labels.nrrd", "labels.nii.gz", "labels.nii", "labels.mha"])
def test_labelmap_round_trip(tmp_path, two_class, name):
    card, g, _, result = two_class
    path = write_segmentation(tmp_path / name, result, card)
    back = read_image(path)
    assert np.array_equal(back.array, result.labels)
    g.require_same(back.geometry)


@pytest.mark.parametrize("name", ["prob.nrrd", "prob.nii.gz", "prob.mha"])
def test_float_volume_round_trip(tmp_path, two_class, name):
    _, g, _, result = two_class
    probability = result.probabilities[1]
    back = read_image(write_float_volume(tmp_path / name, probability, g))
    assert np.array_equal(back.array, probability)
    g.require_same(back.geometry)


def test_write_refuses_input_path_bad_extension_and_shape(tmp_path, two_class):
    import SimpleITK as sitk

    card, g, array, result = two_class
    source = tmp_path / "ct.nrrd"
    sitk.WriteImage(sitk_image(array, g), str(source))
    before = source.read_bytes()
    with pytest.raises(InputError, match="refusing to write over the input"):
        write_segmentation(source, result, card, input_path=source)
    assert source.read_bytes() == before
    with pytest.raises(InputError, match="unsupported output type"):
        write_segmentation(tmp_path / "labels.nhdr", result, card)
    with pytest.raises(InputError, match="does not exist"):
        write_segmentation(tmp_path / "missing" / "x.seg.nrrd", result, card)
    with pytest.raises(GeometryError, match="does not match"):
        write_float_volume(tmp_path / "p.nrrd", np.zeros((2, 2, 2)), g)
    with pytest.raises(InputError, match="does not declare"):
        write_segmentation(tmp_path / "x.seg.nrrd", result, make_card(1))
    assert sorted(os.listdir(tmp_path)) == ["ct.nrrd"], "no output and no temporary file may be left behind"


def test_atomic_write_replaces_existing_file_only_on_success(tmp_path, two_class):
    card, _, _, result = two_class
    path = tmp_path / "out.seg.nrrd"
    path.write_bytes(b"old")
    with pytest.raises(InputError):
        write_segmentation(path, result, make_card(1))  # fails validation before writing
    assert path.read_bytes() == b"old"
    write_segmentation(path, result, card)
    assert path.read_bytes().startswith(b"NRRD0004")
    assert sorted(os.listdir(tmp_path)) == ["out.seg.nrrd"]


def test_non_ascii_segment_name_is_written_as_utf8(tmp_path):
    import nrrd

    card = make_card(1, names=["Hüfte"])
    g = geometry_for(np.eye(3))
    with pytest.warns(UserWarning):
        result = segment_array(np.full(g.array_shape, -1000.0), g, ThresholdPredictor(card, 32))
    path = write_segmentation(tmp_path / "ü.seg.nrrd", result, card)
    assert "Segment0_Name:=Hüfte".encode("utf-8") in path.read_bytes()[:4000]
    assert len(validate_seg_header(nrrd.read_header(str(path)))) == 1


def test_terminology_string_has_seven_parts():
    text = terminology_string({"category": ("SCT", "1", "A"), "type": ("SCT", "2", "B"),
                               "anatomicRegion": ("SCT", "3", "C")})
    parts = text.split("~")
    assert len(parts) == 7 and parts[1] == "SCT^1^A" and parts[2] == "SCT^2^B" and parts[5] == "SCT^3^C"
    assert terminology_string({}).split("~")[2] == "SCT^85756007^Tissue"


def test_preview_png(tmp_path, two_class):
    from PIL import Image

    card, g, array, result = two_class
    path = write_preview(tmp_path / "preview.png", image_data_from_array(array, g), result, card, max_slices=2)
    picture = np.asarray(Image.open(path))
    assert picture.ndim == 3 and picture.shape[2] == 3
    liver = np.round(np.asarray(card.classes[0].color) * 255).astype(np.uint8)
    assert np.all(picture == liver, axis=-1).any(), "outlines are drawn in the class colour"
    with pytest.raises(InputError, match="PNG"):
        write_preview(tmp_path / "preview.jpg", image_data_from_array(array, g), result, card)


def test_preview_shows_volumes_in_radiological_orientation_whatever_the_storage(tmp_path):
    """The same anatomy stored LPS and flipped to RAI gives the same preview picture."""
    from PIL import Image

    from SDSegLogic.geometry import reorient

    card = make_card()
    lps = geometry_for(np.eye(3), shape_kji=(3, 6, 8), spacing=(1.0, 1.0, 1.0))
    array = np.full((3, 6, 8), -1000.0, dtype=np.float32)
    array[1, 0:2, 0:3] = 200.0  # bright marker: anterior (top rows) and patient right (left columns)
    labels = (array > 0).astype(np.uint8)
    flipped, flipped_geometry, plan = reorient(array, lps, "RAI")
    pictures = []
    for arr, geometry, lab, name in ((array, lps, labels, "lps"), (np.ascontiguousarray(flipped), flipped_geometry,
                                     np.ascontiguousarray(plan.apply(labels)), "rai")):
        result = segment_array(arr, geometry, ThresholdPredictor(card))
        assert np.array_equal(result.labels, lab)
        path = write_preview(tmp_path / f"{name}.png", image_data_from_array(arr, geometry), result, card, max_slices=1)
        pictures.append(np.asarray(Image.open(path)))
    assert np.array_equal(pictures[0], pictures[1])
    assert pictures[0][:5, :5].mean() > pictures[0][-5:, -5:].mean()  # marker at the top left


def test_preview_picks_the_slices_with_most_foreground():
    from SDSegLogic.io.preview import representative_slices

    labels = np.zeros((5, 4, 4), dtype=np.uint8)
    labels[1, :2] = 1
    labels[3] = 1
    labels[4, 0, 0] = 1
    assert representative_slices(labels, 2) == [1, 3]
    assert representative_slices(np.zeros((5, 2, 2)), 3) == [2]


def test_preview_slices_show_every_class_not_only_the_largest():
    """A small organ far from the big one still gets a panel (the old choice took the two biggest slices)."""
    from SDSegLogic.io.preview import representative_slices

    labels = np.zeros((9, 8, 8), dtype=np.uint8)
    labels[0:3] = 1  # a large organ in slices 0-2
    labels[6, 3:5, 3:5] = 2  # a small one only in slice 6
    assert representative_slices(labels, 2)[1] == 6
    labels[7, 2:6, 2:6] = 2  # larger there: the small organ is shown where it is largest
    assert 7 in representative_slices(labels, 2)


def test_preview_has_a_legend_with_every_class_colour(tmp_path, two_class):
    """Below the panels, a swatch in each class's exact colour, also for classes not found."""
    import dataclasses

    from PIL import Image

    card, g, array, result = two_class
    image = image_data_from_array(array, g)
    empty = dataclasses.replace(result, labels=np.zeros_like(result.labels))
    for name, res in (("found", result), ("empty", empty)):
        picture = np.asarray(Image.open(write_preview(tmp_path / f"{name}.png", image, res, card, max_slices=2)))
        background = np.all(picture == (24, 24, 24), axis=-1).all(axis=1)
        assert background.any(), "a caption/legend area below the panels"
        below = picture[int(np.argmax(background)):]
        for cls in card.classes:
            colour = np.round(np.asarray(cls.color) * 255).astype(np.uint8)
            assert np.all(below == colour, axis=-1).sum() >= 25, f"a swatch for {cls.name} ({name})"


def test_atomic_output_leaves_destination_untouched_on_error(tmp_path):
    from SDSegLogic.io.atomic import atomic_output

    path = tmp_path / "result.nii.gz"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with atomic_output(path) as tmp:
            assert tmp.parent == tmp_path and tmp.name.endswith(".nii.gz")
            tmp.write_bytes(b"half written")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["result.nii.gz"]
