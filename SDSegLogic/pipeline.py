"""SDSegPipeline: load a model once, segment batches of slices.

The whole inference path of the paper, for a batch of slices ``x`` in [-1, 1]::

    z_c  = tau_theta(x)                                   # condition latent
    z_T  ~ N(0, I)                                        # one seeded draw, shared by all slices
    eps  = UNet(cat[z_T, z_c], t = 999)                   # one network call
    z0   = sqrt(1/abar_999) z_T - sqrt(1/abar_999 - 1) eps    (= 38.672 z_T - 38.659 eps, float32)
    x0   = AE.decode(z0 / s)
    p    = clamp((x0 + 1) / 2, 0, 1).mean(channels)       # soft map in [0, 1]

``num_inference_steps > 1`` runs DDIM over the same components instead; ``num_samples > 1``
repeats with independent noise and returns the mean map and its per-pixel variance (an
uncertainty map), accumulated sample by sample (memory does not grow with the sample count); a multi-class model runs one pass per class with the same noise, averages
each decoded image over channels, negates class 0 (the union of all foreground), and takes
softmax and argmax over classes (the official rule; verified against the original code).

The noise of each sample is drawn once with shape (1, 4, h, w) and shared by every slice of
the batch, as in the official evaluation, so a slice's result does not depend on the batch it
was in or on the batch size.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Tuple, Union

from .errors import ConfigError, InputError, ModelCardError
from .pipeline_inputs import validate_images
from .pipeline_outputs import SDSegOutput, reproducible_seed
from .pipeline_sampling import mean_and_variance, one_sample
from .segment_options import check_count, check_seed
from .model_card import ModelCard

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from .models.sdseg_model import SDSegModel

__all__ = ["SDSegOutput", "SDSegPipeline"]


class SDSegPipeline:
    """Single-step (or DDIM) SDSeg inference on one device.

    Args:
        model: the trained model (moved to ``device``/``dtype`` and put in eval mode).
        model_card: the data contract; optional for bare experiments (threshold 0.5).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, or a ``torch.device``.
        unet_dtype: precision of the UNet alone. Default: fp32 on CUDA when ``dtype`` is not given
            (the faithful GPU path: fp16 encoder/decoder + fp32 UNet, see
            :func:`SDSegLogic.device.default_unet_dtype`), else ``dtype``. The single step
            multiplies the UNet's error by ~39.
        dtype: vision encoder and decoder precision (and the UNet's, unless it has its own);
            default fp16 on CUDA, fp32 on the CPU. Latent arithmetic is always float32.
        channels_last: use the channels-last memory format; default (``None``): on CUDA, where it
            is faster with fp16 (tensor-core convolutions), off on the CPU.
        fast_decoder: decode with the model's distilled fast decoder instead of the autoencoder
            decoder (opt-in, beyond the paper; changes outputs slightly, see the model card).
    """

    def __init__(
        self,
        model: "SDSegModel",
        model_card: Optional[ModelCard] = None,
        device: Union[str, "torch.device"] = "auto",
        dtype: Union[str, "torch.dtype", None] = None,
        channels_last: Optional[bool] = None,
        fast_decoder: bool = False,
        unet_dtype: Union[str, "torch.dtype", None] = None,
    ) -> None:
        import torch

        from .device import default_dtype, default_unet_dtype, parse_dtype, resolve_device
        from .schedulers import NoiseSchedule

        self.device = resolve_device(device)
        chosen = parse_dtype(dtype)
        self.dtype = chosen or default_dtype(self.device)
        auto_unet = default_unet_dtype(self.device) if chosen is None else None  # explicit dtype: the whole network
        self.unet_dtype = parse_dtype(unet_dtype) or auto_unet or self.dtype
        from diffusers.utils import logging as diffusers_logging

        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # casting our own UNet is intended: no "keep in float32" notice
        try:
            self.model = model.to(device=self.device, dtype=self.dtype).eval()
            self.model.unet.to(dtype=self.unet_dtype)
        finally:
            diffusers_logging.set_verbosity(verbosity)
        if channels_last is None:
            channels_last = self.device.type == "cuda"
        self.channels_last = bool(channels_last)
        self.source_folder: Optional[Path] = None  # set by from_pretrained: lets a compile run in a child process
        self.source_variant: Optional[str] = None
        if self.device.type == "cuda" and os.environ.get("SDSEG_CUDNN_BENCHMARK", "1") != "0":
            # Slice batches repeat one shape: cuDNN picks the fastest kernels once, in the first call
            # (which it makes slower); SDSEG_CUDNN_BENCHMARK=0 trades steady speed for a faster start.
            torch.backends.cudnn.benchmark = True
        self.compile_summary: Optional[dict] = None
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.requires_grad_(False)
        self.model_card = model_card
        self.config = model.config
        if model_card is not None and model_card.num_network_classes != (self.config.unet.num_classes or 1):
            raise ModelCardError(
                f"model card {model_card.model_id!r} lists {len(model_card.classes)} class(es) "
                f"({model_card.num_network_classes} network classes) but the network has "
                f"{self.config.unet.num_classes or 1}; fix the card's classes or use the matching config."
            )
        self.schedule = NoiseSchedule(self.config.schedule)
        self._batch_limit: Optional[int] = None
        if fast_decoder and model.fast_decoder is None:
            raise ConfigError(
                "fast_decoder=True but this model has no distilled fast decoder; decode with the autoencoder "
                "(the default) or distil one with the training package (sdseg-train distill-decoder)."
            )
        self.fast_decoder = bool(fast_decoder)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        folder: Union[str, Path],
        device: Union[str, "torch.device"] = "auto",
        dtype: Union[str, "torch.dtype", None] = None,
        variant: Optional[str] = None,
        verify: bool = True,
        channels_last: Optional[bool] = None,
        fast_decoder: bool = False,
        unet_dtype: Union[str, "torch.dtype", None] = None,
    ) -> "SDSegPipeline":
        """Load a model folder (see :mod:`SDSegLogic.model_folder`) onto ``device``."""
        from .device import default_dtype, default_unet_dtype, parse_dtype, resolve_device
        from .model_folder import load_model_folder

        dev = resolve_device(device)
        chosen = parse_dtype(dtype)
        dt = chosen or default_dtype(dev)
        if unet_dtype is None and chosen is None:
            unet_dtype = default_unet_dtype(dev)
        model, card = load_model_folder(folder, device=dev, dtype=dt, variant=variant, verify=verify)
        pipe = cls(model, card, device=dev, dtype=dt, channels_last=channels_last, fast_decoder=fast_decoder,
                   unet_dtype=unet_dtype)
        pipe.source_folder, pipe.source_variant = Path(folder), variant
        return pipe

    @property
    def sample_size(self) -> int:
        return self.config.sample_size

    @property
    def num_network_classes(self) -> int:
        return self.config.unet.num_classes or 1

    def suggested_batch_size(self) -> int:
        """Slices per call when the caller does not choose.

        CPU: about 12 decoded images per call (slices x classes): measured fastest on a 2-core
        machine (6-class demo, whole CT: batch 2 took 55 s, batch 8 took 70 s). CUDA: as many as
        70 % of the free GPU memory holds, from ~280 MB per fp16 256 px slice and class for the
        paper model (decoder activations dominate), capped at 64; out-of-memory still backs off.
        """
        classes = self.num_network_classes
        if self.device.type != "cuda":
            return max(1, 12 // classes)
        import torch

        free, _ = torch.cuda.mem_get_info(self.device)
        scale = (self.sample_size / 256) ** 2 * (self.config.autoencoder.block_out_channels[0] / 128)
        per_slice = 280e6 * scale * (torch.finfo(self.dtype).bits / 16) * classes
        return int(max(1, min(64, 0.7 * free // per_slice)))

    # ------------------------------------------------------------------ inference
    def __call__(
        self,
        images: Union["torch.Tensor", "np.ndarray"],
        num_inference_steps: int = 1,
        num_samples: int = 1,
        eta: float = 0.0,
        seed: Optional[int] = 0,
        generator: Optional["torch.Generator"] = None,
    ) -> SDSegOutput:
        """Segment a batch of slices.

        Args:
            images: (B, 3, H, W) float in [-1, 1] (already intensity-mapped); H and W multiples
                of ``config.input_multiple``.
            num_inference_steps: 1 for the paper's single step, S > 1 for DDIM with S steps.
            num_samples: independent noise draws; > 1 adds a variance map.
            eta: DDIM stochasticity (0 = deterministic).
            seed: seeds a CPU generator when ``generator`` is None (``None`` = nondeterministic).
            generator: a ``torch.Generator`` to draw all noise from (takes precedence over ``seed``).

        Returns:
            :class:`SDSegOutput` with CPU tensors; its ``seed`` reproduces it (``None``: no seed does).
        """
        used_seed = reproducible_seed(check_seed(seed), generator)  # before the generator draws
        mean, variance = self._sample_maps(images, num_inference_steps, num_samples, eta, seed, generator)
        if self.num_network_classes == 1:
            threshold = self.model_card.threshold if self.model_card is not None else 0.5
            labels = (mean > threshold).long()
        else:
            labels = mean.argmax(dim=1)
        return SDSegOutput(
            probabilities=mean.cpu(),
            labels=labels.cpu(),
            variance=None if variance is None else variance.cpu(),
            num_inference_steps=int(num_inference_steps),
            num_samples=int(num_samples), seed=used_seed,
        )

    def predict_probabilities(
        self,
        images: "np.ndarray",
        num_inference_steps: int = 1,
        num_samples: int = 1,
        seed: Optional[int] = 0,
        should_cancel: Optional[Callable[[], bool]] = None,
    ) -> Tuple["np.ndarray", Optional["np.ndarray"]]:
        """NumPy entry point used by the volume pipeline and the engine server.

        Args:
            images: float32 (B, 3, S, S) in [-1, 1].
            should_cancel: checked before every network call (each step of each sample); True
                raises :class:`~SDSegLogic.errors.CancelledError` within one call.

        Returns:
            (probabilities, variance): float32 (B, C, S, S) with C = 1 for a binary model (the
            foreground probability) or C = K (softmax over classes); variance likewise or None.
        """
        mean, variance = self._class_maps(images, num_inference_steps, num_samples, seed, should_cancel)
        return mean.cpu().numpy(), None if variance is None else variance.cpu().numpy()

    def predict_native(self, images: "np.ndarray", in_plane: Tuple[int, int], values: "np.ndarray", threshold: float,
                       keep_probabilities: bool = True, num_inference_steps: int = 1, num_samples: int = 1,
                       seed: Optional[int] = 0, keep_variance: bool = True,
                       should_cancel: Optional[Callable[[], bool]] = None):
        """Like :meth:`predict_probabilities`, resized to ``in_plane`` and labelled on this device.

        Used by the volume pipeline on CUDA (see :mod:`SDSegLogic.device_postprocess`): only the uint8
        labels (and the soft maps and the variance, each when kept) come back to the host. The maps go
        back as the model card's ``image_resize`` placed the input (:func:`~SDSegLogic.input_resize.back_align_corners`).

        Returns:
            :class:`~SDSegLogic.device_postprocess.NativeBatch`.
        """
        from .device_postprocess import postprocess_on_device
        from .input_resize import back_align_corners

        mean, var = self._class_maps(images, num_inference_steps, num_samples, seed, should_cancel)
        corners = back_align_corners(getattr(self.model_card, "image_resize", "bilinear"))
        return postprocess_on_device(mean, var if keep_variance else None, in_plane, values, threshold, keep_probabilities,
                                     align_corners=corners)

    # ------------------------------------------------------------------ internals
    def _class_maps(self, images, num_inference_steps: int, num_samples: int, seed: Optional[int],
                    should_cancel=None) -> Tuple["torch.Tensor", Optional["torch.Tensor"]]:
        """Deterministic-DDIM soft maps with a class axis: float32 (B, C, S, S) on the device, C = 1 when binary."""
        mean, variance = self._sample_maps(images, num_inference_steps, num_samples, 0.0, seed, None, should_cancel)
        if mean.ndim == 3:
            mean = mean[:, None]
            variance = None if variance is None else variance[:, None]
        return mean, variance

    def _sample_maps(self, images, num_inference_steps: int, num_samples: int, eta: float, seed: Optional[int],
                     generator: Optional["torch.Generator"],
                     should_cancel=None) -> Tuple["torch.Tensor", Optional["torch.Tensor"]]:
        """Mean soft map and variance (or None) over the samples, float32 on the device."""
        import torch

        from .schedulers import make_sampler

        x = self._validate_images(images)
        num_samples, seed = check_count("num_samples", num_samples), check_seed(seed)
        if not isinstance(num_inference_steps, numbers.Integral) or isinstance(num_inference_steps, bool):
            check_count("num_inference_steps", num_inference_steps)  # names a fraction or a text, with the remedy
        steps = self.schedule.num_train_timesteps
        if not 1 <= num_inference_steps <= steps:
            raise InputError(f"num_inference_steps={num_inference_steps} must be in 1..{steps} (the model's training "
                             f"timesteps): 1 for the paper's single step, up to {steps} for DDIM.")
        if generator is None:
            generator = torch.Generator("cpu")
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(int(seed))
        sampler = make_sampler(self.schedule, num_inference_steps, eta)
        return self._sample_with_backoff(x, sampler, generator, int(num_samples), generator.get_state(), should_cancel)

    def _sample_with_backoff(self, x: "torch.Tensor", sampler, generator: "torch.Generator", num_samples: int,
                             rng_state, should_cancel=None) -> Tuple["torch.Tensor", Optional["torch.Tensor"]]:
        """Mean and variance (None for one sample) over the samples of batch ``x``: (B, ...) float32 on the device.

        On CUDA out-of-memory the batch is split in halves and retried (each half replays the
        same noise, which is shared across slices, so the result is unchanged); the smaller
        batch is remembered for later calls.
        """
        import torch

        limit = self._batch_limit
        if limit is None or x.shape[0] <= limit:
            try:
                return self._all_samples(x, sampler, generator, num_samples, rng_state, should_cancel)
            except torch.cuda.OutOfMemoryError:
                if x.shape[0] == 1:  # still an out-of-memory error: a resource, not the input (exit code 7)
                    torch.cuda.empty_cache()
                    raise torch.cuda.OutOfMemoryError(
                        f"out of GPU memory on {self.device} even for a single {x.shape[2]}x{x.shape[3]} slice; "
                        "close other GPU programs, use a smaller model, or run on the CPU (--device cpu)."
                    ) from None
            # Retry outside the except clause, whose traceback still holds the failed attempt's tensors.
            torch.cuda.empty_cache()
            limit = self._batch_limit = max(1, x.shape[0] // 2)
        parts = [self._sample_with_backoff(chunk, sampler, generator, num_samples, rng_state, should_cancel)
                 for chunk in x.split(limit)]
        variance = None if parts[0][1] is None else torch.cat([v for _, v in parts])
        return torch.cat([m for m, _ in parts]), variance

    def _all_samples(self, x: "torch.Tensor", sampler, generator, num_samples: int,
                     rng_state, should_cancel=None) -> Tuple["torch.Tensor", Optional["torch.Tensor"]]:
        """One attempt at batch ``x`` (no back-off): mean and variance over the samples, accumulated one by one."""
        import torch

        generator.set_state(rng_state)
        with torch.inference_mode():
            condition = self.model.encode_condition(x.to(device=self.device, dtype=self.dtype))
            return mean_and_variance(lambda: self._one_sample(condition, sampler, generator, should_cancel), num_samples)

    def compile(self, mode: str = "default", cache_dir: Optional[Union[str, Path]] = None, backend: str = "inductor",
                build: bool = True) -> "SDSegPipeline":
        """Compile the networks for speed; outputs change only by floating-point reassociation.

        Args:
            mode: ``torch.compile`` mode for ``backend="inductor"`` (``"default"``,
                ``"reduce-overhead"``, ``"max-autotune"``).
            cache_dir: where compiled artefacts are kept. Inductor: default
                ``$SDSEG_HOME/inductor-cache`` (a later process recompiles faster). AOT: default
                ``$SDSEG_HOME/compiled`` (a later process loads packages in about a second).
            backend: ``"inductor"`` (``torch.compile``, just in time, in every process) or
                ``"aot"`` (``torch.export`` + AOTInductor packages, built once and cached; see
                :mod:`SDSegLogic.compiled`). AOT packages cover calls of 64 rows (slices x
                classes) or more; smaller calls run eagerly.
            build: AOT only: build missing packages (minutes for the paper model); with
                ``False`` a network without a cached package stays eager.

        Returns:
            ``self``; ``self.compile_summary`` describes what was loaded or built.
        """
        from .compile_policy import compile_pipeline

        self.compile_summary = compile_pipeline(self, mode, cache_dir, backend, build)
        return self

    def apply_compile_policy(self, policy: str = "auto", report=None) -> "SDSegPipeline":
        """The engine's compile choice, shared by the CLI and the engine server.

        Args:
            policy: ``"auto"``: on CUDA use AOT packages already in the cache (never build: a
                first build takes minutes), else stay eager; on the CPU stay eager. ``"aot"``:
                use cached packages and build missing ones - in a child process when the model
                came from a folder, so that a crash while compiling leaves this process running
                eagerly. ``"off"``: eager.
            report: receives progress lines (building, loading).
        """
        from .compile_policy import apply_policy

        summary = apply_policy(self, policy, report)
        if summary is not None:
            self.compile_summary = summary
        return self

    @property
    def compiled_rows(self) -> Optional[int]:
        """Smallest call (slices x classes) that runs compiled code, or ``None`` when eager."""
        from .compile_policy import compiled_rows

        return compiled_rows(self.compile_summary)

    def _one_sample(self, condition: "torch.Tensor", sampler, generator: "torch.Generator",
                    should_cancel=None) -> "torch.Tensor":
        """One noise draw through the sampler and decoder: float32 (B, H, W) or (B, K, H, W).

        See :func:`SDSegLogic.pipeline_sampling.one_sample`.
        """
        return one_sample(self, condition, sampler, generator, should_cancel)

    def _validate_images(self, images) -> "torch.Tensor":
        return validate_images(images, self.config.input_multiple, self.sample_size)
