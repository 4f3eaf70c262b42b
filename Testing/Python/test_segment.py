"""segment_array / plan_segmentation with a deterministic threshold predictor."""

from __future__ import annotations

import numpy as np
import pytest
from engine_test_helpers import segment_quietly
from io_test_helpers import (MARKER_VOXELS, ThresholdPredictor, geometry_for, make_card, marker_array,
                             signed_permutations)

from SDSegLogic.errors import CancelledError, GeometryError, InputError, ModelCardError
from SDSegLogic.segment import plan_segmentation, segment_array
from SDSegLogic.segment_plan import parse_slice_range


def test_binary_result_fields():
    card = make_card()
    g = geometry_for(np.eye(3))
    array = marker_array()
    before = array.copy()
    result = segment_array(array, g, ThresholdPredictor(card, 32), seed=3, num_inference_steps=2)
    assert result.labels.dtype == np.uint8 and result.labels.shape == array.shape
    assert np.array_equal(result.labels, (array > 0).astype(np.uint8))
    assert result.probabilities.shape == array.shape and result.probabilities.dtype == np.float32
    assert result.variance is None and result.geometry is g
    assert result.voxel_counts == {"liver": len(MARKER_VOXELS)}
    assert (result.model_id, result.model_version, result.seed, result.num_inference_steps) == ("test-model", "1.2.3", 3, 2)
    assert np.array_equal(array, before), "the input must not be modified"


def test_multiclass_labels_probabilities_and_variance():
    """In-plane size == model size (no resize), so argmax labels must match the classes exactly."""
    card = make_card(2)
    g = geometry_for(np.diag([-1.0, 1.0, -1.0]), shape_kji=(3, 32, 32))
    array = np.full(g.array_shape, -1000.0, dtype=np.float32)
    array[0, 3:9, 4:20] = 30.0   # class 1 (maps to 0.225)
    array[0, 9:12, 4:6] = 200.0  # class 2 (maps to 1.0), touching class 1
    array[2, 20:30, 1:3] = 200.0
    result = segment_quietly(array, g, ThresholdPredictor(card, 32, bounds=(-0.5, 0.5)), num_samples=3)
    assert result.probabilities.shape == (3,) + array.shape and result.variance.shape == (3,) + array.shape
    assert np.array_equal(result.labels, np.select([array == 30.0, array == 200.0], [1, 2], 0))
    np.testing.assert_allclose(result.probabilities.sum(axis=0), 1.0, atol=1e-6)
    assert result.voxel_counts == {"liver": 6 * 16, "spleen": 6 + 20}


def test_labels_only_run_gives_the_same_labels_without_the_soft_maps():
    """keep_probabilities=False: identical labels and counts (resize + argmax), no (C, K, J, I) array."""
    card = make_card(2)
    g = geometry_for(signed_permutations()[11], shape_kji=(5, 40, 24))  # in-plane != 32: resized both ways
    array = np.random.default_rng(2).normal(0, 300, g.array_shape).astype(np.float32)
    kept = segment_quietly(array, g, ThresholdPredictor(card, 32, bounds=(-0.5, 0.5)), batch_size=2, num_samples=2)
    lean = segment_quietly(array, g, ThresholdPredictor(card, 32, bounds=(-0.5, 0.5)), batch_size=2, num_samples=2,
                  keep_probabilities=False)
    assert lean.probabilities is None and kept.probabilities.shape == (3,) + array.shape
    assert np.array_equal(lean.labels, kept.labels) and lean.voxel_counts == kept.voxel_counts
    assert np.array_equal(lean.variance, kept.variance)  # asked for separately (num_samples > 1)
    assert len(np.unique(lean.labels)) > 1 and lean.plan.estimated_bytes < kept.plan.estimated_bytes
    binary = segment_quietly(array, g, ThresholdPredictor(make_card(), 32), keep_probabilities=False)
    assert binary.probabilities is None and binary.labels.shape == array.shape


def test_batch_size_does_not_change_the_result():
    card = make_card()
    g = geometry_for(signed_permutations()[5])
    array = marker_array() + np.random.default_rng(0).normal(0, 300, marker_array().shape).astype(np.float32)
    one = segment_quietly(array, g, ThresholdPredictor(card, 32), batch_size=1)
    many = segment_quietly(array, g, ThresholdPredictor(card, 32), batch_size=4)
    assert np.array_equal(one.labels, many.labels) and np.array_equal(one.probabilities, many.probabilities)


def test_progress_and_batches():
    card = make_card()
    g = geometry_for(np.eye(3))
    calls = []
    predictor = ThresholdPredictor(card, 32)
    segment_quietly(marker_array(), g, predictor, batch_size=4, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 6), (6, 6)]
    assert [c[0] for c in predictor.calls] == [4, 2] and all(c[1:] == (3, 32, 32) for c in predictor.calls)


def test_cancel_between_batches():
    card = make_card()
    g = geometry_for(np.eye(3))
    asked = []

    def cancel() -> bool:
        asked.append(1)
        return len(asked) > 1

    predictor = ThresholdPredictor(card, 32)
    with pytest.raises(CancelledError, match="after 2 of 6 slices"):
        segment_quietly(marker_array(), g, predictor, batch_size=2, should_cancel=cancel)
    assert len(predictor.calls) == 1


@pytest.mark.parametrize("flip_k", [False, True])
def test_slice_range_is_in_input_indices(flip_k):
    """slices='2:5' selects input k = 2, 3, 4 whether or not k points the model's way."""
    card = make_card()
    g = geometry_for(np.diag([1.0, 1.0, -1.0]) if flip_k else np.eye(3))
    array = np.full(g.array_shape, 500.0, dtype=np.float32)
    result = segment_quietly(array, g, ThresholdPredictor(card, 32), slices="2:5")
    assert result.plan.reorientation.flips[2] == flip_k
    assert [bool(result.labels[k].any()) for k in range(6)] == [False, False, True, True, True, False]
    assert not result.probabilities[[0, 1, 5]].any()
    multi = segment_quietly(array, g, ThresholdPredictor(make_card(2), 32, bounds=(-0.5, 0.5)), slices=(-1, None))
    assert [bool(multi.labels[k].any()) for k in range(6)] == [False] * 5 + [True]


def test_parse_slice_range():
    assert parse_slice_range(None, 6) == (0, 6)
    assert parse_slice_range("2:", 6) == (2, 6)
    assert parse_slice_range(":-2", 6) == (0, 4)
    assert parse_slice_range(slice(1, 3), 6) == (1, 3)
    for bad in ("3", "a:b", "4:2", slice(0, 6, 2), 5):
        with pytest.raises(InputError):
            parse_slice_range(bad, 6)


def test_plan_is_loggable_and_refuses_large_volumes():
    card = make_card()
    g = geometry_for(signed_permutations()[40])
    plan = plan_segmentation(g.array_shape, g, card, model_size=32, batch_size=4)
    text = plan.describe()
    assert "reorient:" in text and "resize:" in text and "memory:" in text
    assert plan.model_size == 32 and plan.num_batches == -(-plan.num_slices // 4)
    with pytest.raises(InputError, match=r"needs about .* more than the budget .*--slices A:B"):
        plan_segmentation(g.array_shape, g, card, model_size=32, max_bytes=10_000)


def test_memory_refusal_happens_before_the_predictor_runs():
    card = make_card()
    g = geometry_for(np.eye(3))
    predictor = ThresholdPredictor(card, 32)
    with pytest.raises(InputError, match="budget"):
        segment_array(marker_array(), g, predictor, max_bytes=1000)
    assert predictor.calls == []


class _WrongShapePredictor(ThresholdPredictor):
    def predict_probabilities(self, images, **kwargs):
        probs, _ = super().predict_probabilities(images)
        return np.repeat(probs, 2, axis=1), None


def test_predictor_output_is_checked_against_the_card():
    card = make_card()
    g = geometry_for(np.eye(3))
    with pytest.raises(ModelCardError, match=r"expected \(6, 1, 32, 32\)"):
        segment_array(marker_array(), g, _WrongShapePredictor(card, 32))


def test_input_validation():
    card = make_card()
    g = geometry_for(np.eye(3))
    predictor = ThresholdPredictor(card, 32)
    with pytest.raises(InputError, match="must be \\(K, J, I\\)"):
        segment_array(np.zeros((2,) + g.array_shape), g, predictor)
    with pytest.raises(InputError, match="does not match the geometry"):
        segment_array(np.zeros((6, 12, 10)), g, predictor)
    with pytest.raises(GeometryError, match="ImageGeometry"):
        segment_array(marker_array(), "LPS", predictor)
    with pytest.raises(InputError, match="batch_size"):
        segment_array(marker_array(), g, predictor, batch_size=0)


@pytest.mark.parametrize("card_kind, modality, warned", [
    ("window", "photo", True),   # a PNG/JPEG given to a CT model: no HU
    ("window", "MR", True),      # a DICOM MR series given to a CT model
    ("window", "CT", False),
    ("window", "", False),       # unknown modality (arrays from memory): nothing to compare
    ("window", "OT", False),     # a DICOM code we do not classify
    ("rgb", "photo", False),     # a photo model given a photo
])
def test_input_modality_is_compared_with_the_card(card_kind, modality, warned):
    """plan_segmentation warns (and refuses when strict) when the input's modality is not the card's."""
    card = make_card(kind=card_kind, channels=3 if card_kind == "rgb" else 1)
    g = geometry_for(np.eye(3))
    plan = plan_segmentation(g.array_shape + ((3,) if card_kind == "rgb" else ()), g, card, model_size=32,
                             is_rgb=card_kind == "rgb", modality=modality, source="in.png")
    notes = [w for w in plan.warnings if "trained on" in w]
    assert bool(notes) == warned
    if warned:
        assert notes[0].startswith(f"in.png: the model was trained on {card.modality} images")
        assert "meaningless" in notes[0]
        with pytest.raises(InputError, match=f"in.png: the model was trained on CT .*refused because strict"):
            plan_segmentation(g.array_shape, g, card, model_size=32, modality=modality, strict_modality=True,
                              source="in.png")
    else:
        plan_segmentation(g.array_shape + ((3,) if card_kind == "rgb" else ()), g, card, model_size=32,
                          is_rgb=card_kind == "rgb", modality=modality, strict_modality=True)


def test_segment_array_reports_a_modality_mismatch_in_the_result():
    card = make_card()
    g = geometry_for(np.eye(3))
    result = segment_quietly(marker_array(), g, ThresholdPredictor(card, 32), modality="photo", source="grey.png")
    assert any("grey.png: the model was trained on CT images but the input is a 2-D picture" in w
               for w in result.warnings)
    predictor = ThresholdPredictor(card, 32)
    with pytest.raises(InputError, match="strict"):
        segment_array(marker_array(), g, predictor, modality="photo", strict_modality=True)
    assert predictor.calls == []
