"""``num_samples`` (``sdseg segment --samples N``) keeps a bounded number of sample maps, not all N.

The pipeline used to keep every sample's soft maps of a batch alive and stack them, (N, B, C, S, S)
float32, before taking the mean and the variance: memory grew with N outside the memory budget
(``sdseg segment --samples 99999999999`` on a 5-slice CT crop grew past 500 MB in minutes before it
was stopped; on a GPU, 64 samples of a 64-slice, 7-class batch at 256 px are 7.5 GB). The mean and
the variance are now accumulated sample by sample.
"""

from __future__ import annotations

import weakref

import pytest
import torch
from engine_test_helpers import random_slices, tiny_card, tiny_model

from SDSegLogic.pipeline import SDSegPipeline


class _RecordingSoftMap:
    """The model's real ``soft_map``, noting how many earlier sample maps are still alive at each call."""

    def __init__(self, original) -> None:
        self.original, self.refs, self.alive, self.copies = original, [], [], []

    def __call__(self, decoded):
        self.alive.append(sum(ref() is not None for ref in self.refs))
        out = self.original(decoded)
        self.refs.append(weakref.ref(out))
        self.copies.append(out.clone())
        return out


@pytest.mark.parametrize("samples", [2, 8])
def test_sample_maps_are_accumulated_not_stacked(samples):
    pipe = SDSegPipeline(tiny_model(seed=1), tiny_card(), device="cpu")
    recorder = _RecordingSoftMap(pipe.model.soft_map)
    pipe.model.soft_map = recorder  # the same computation, observed
    out = pipe(random_slices(3), num_samples=samples, num_inference_steps=2, seed=4)
    assert len(recorder.copies) == samples
    assert max(recorder.alive) <= 1, recorder.alive  # the running mean at most; never the N - 1 earlier samples
    stacked = torch.stack(recorder.copies)
    torch.testing.assert_close(out.probabilities, stacked.mean(dim=0), rtol=0, atol=1e-6)
    torch.testing.assert_close(out.variance, stacked.var(dim=0, unbiased=False), rtol=0, atol=1e-6)
    assert bool((out.variance >= 0).all())


def test_one_sample_has_no_variance_and_the_plain_map():
    pipe = SDSegPipeline(tiny_model(seed=1), tiny_card(), device="cpu")
    recorder = _RecordingSoftMap(pipe.model.soft_map)
    pipe.model.soft_map = recorder
    out = pipe(random_slices(2), seed=4)
    assert out.variance is None
    torch.testing.assert_close(out.probabilities, recorder.copies[0], rtol=0, atol=0)
