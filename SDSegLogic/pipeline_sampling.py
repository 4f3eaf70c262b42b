"""One noise draw of :class:`~SDSegLogic.pipeline.SDSegPipeline`: sampler steps, decoder, soft maps.

The UNet and the decoder run on the pipeline's device; the latent arithmetic is float32. A
multi-class model runs one pass per class with the same noise (the B x K combinations in one
batch) and combines the decoded images with the official rule (:func:`class_probabilities`).
Several draws are reduced to their mean and variance as they come (:func:`mean_and_variance`).
A ``should_cancel`` callable is checked before every network call (each DDIM step of each draw),
so that a cancel request lands within one call even with many samples or steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Tuple

from .device import exact_fp32
from .errors import CancelledError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .pipeline import SDSegPipeline

__all__ = ["one_sample", "class_probabilities", "mean_and_variance", "check_cancel"]


def check_cancel(should_cancel: Optional[Callable[[], bool]]) -> None:
    """Raise :class:`CancelledError` when ``should_cancel`` (if given) returns True."""
    if should_cancel is not None and should_cancel():
        raise CancelledError("cancelled between network calls of a batch; the batch was dropped.")


def one_sample(pipe: "SDSegPipeline", condition: "torch.Tensor", sampler, generator: "torch.Generator",
               should_cancel: Optional[Callable[[], bool]] = None) -> "torch.Tensor":
    """One noise draw through ``sampler`` and the decoder.

    Args:
        pipe: the pipeline (model, device, precisions, class count).
        condition: condition latents (B, 4, h, w) on the pipeline's device.
        sampler: a :class:`~SDSegLogic.schedulers.DDIMSampler` (one step for the paper's method).
        generator: draws the initial noise, once with shape (1, 4, h, w): shared by every slice.
        should_cancel: checked before each UNet call; True raises :class:`CancelledError`.

    Returns:
        float32 (B, H, W) soft maps in [0, 1] for a binary model, (B, K, H, W) class
        probabilities (softmax, index 0 = background) for a multi-class one.
    """
    import torch

    batch = condition.shape[0]
    classes = pipe.num_network_classes
    latent_shape = (1, pipe.config.latent_channels, condition.shape[2], condition.shape[3])
    noise = torch.randn(latent_shape, generator=generator, dtype=torch.float32, device=generator.device)
    if classes > 1:
        # One pass per class with the same noise: batch the B x K combinations together.
        cond = condition.repeat_interleave(classes, dim=0)
        class_labels = torch.arange(classes, device=pipe.device).repeat(batch)
    else:
        cond, class_labels = condition, None
    latent = noise.to(pipe.device).expand(cond.shape[0], -1, -1, -1).contiguous()
    for t in sampler.timesteps:
        check_cancel(should_cancel)
        timestep = torch.full((cond.shape[0],), t, device=pipe.device, dtype=torch.long)
        with exact_fp32(pipe.device.type == "cuda" and pipe.unet_dtype == torch.float32):
            eps = pipe.model.predict_noise(latent.to(pipe.unet_dtype), cond.to(pipe.unet_dtype), timestep, class_labels)
        latent = sampler.step(eps, t, latent, generator=generator).prev_sample
    decoded = pipe.model.decode_latent(latent.to(pipe.dtype), fast=pipe.fast_decoder)
    if classes == 1:
        return pipe.model.soft_map(decoded)  # (B, H, W) float32
    return class_probabilities(decoded, batch, classes)


def class_probabilities(decoded: "torch.Tensor", batch: int, classes: int) -> "torch.Tensor":
    """The official multi-class rule: (B x K, 3, H, W) decoded images -> float32 (B, K, H, W) probabilities.

    The channel mean of each raw decoded image (no clamp, no (x + 1) / 2) is the class score;
    class 0 (the union of all foreground) is negated to act as background; softmax over classes.
    """
    import torch

    mean = decoded.float().mean(dim=1).view(batch, classes, *decoded.shape[2:])
    logits = torch.cat([-mean[:, :1], mean[:, 1:]], dim=1)
    return torch.softmax(logits, dim=1)


def mean_and_variance(draw: Callable[[], "torch.Tensor"],
                      num_samples: int) -> Tuple["torch.Tensor", Optional["torch.Tensor"]]:
    """Mean and population variance of ``num_samples`` draws, keeping two running maps instead of all draws.

    Welford's update: ``mean += (x - mean) / k``, ``m2 += (x - mean_old) * (x - mean_new)``, variance
    ``m2 / N`` (as ``torch.var(unbiased=False)``; never negative). Memory does not grow with N.

    Args:
        draw: returns the next sample, float32 (B, ...); called ``num_samples`` times, in order.
        num_samples: N >= 1.

    Returns:
        (mean, variance): float32 (B, ...); variance is None when N == 1 (the mean is then the draw itself).
    """
    import torch

    mean = draw()
    if num_samples == 1:
        return mean, None
    mean = mean.clone()  # updated in place below
    m2 = torch.zeros_like(mean)
    for k in range(2, num_samples + 1):
        sample = draw()
        delta = sample - mean
        mean += delta / k
        m2 += delta * (sample - mean)
        del sample, delta
    return mean, m2 / num_samples
