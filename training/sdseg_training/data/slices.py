"""In-memory slice sets, the training view (flips + class choice) and a resumable sampler.

Every dataset, 2D or 3D, is reduced to *cases* (an image, or a volume's axial slices), each
loaded once into a :class:`SliceSet`: images float16 (N, C, S, S) in [-1, 1] with C = 1
(grey, repeated to 3 at batch time) or 3 (RGB), and uint8 label maps (N, S, S) holding the
class index of each pixel (0 = background, 1..F = foreground classes).

Randomness in the data path is a pure function of ``(seed, epoch, position)``: the sampler
yields ``(index, item_seed)`` pairs, and the item's flips and class choice are drawn from
``item_seed``. A run resumed at optimizer step n therefore sees exactly the batches it would
have seen without the interruption.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ["Case", "SliceSet", "TrainSlices", "EpochBatchSampler", "advance_position", "collate"]


@dataclass
class Case:
    """One image or volume, loaded lazily.

    Attributes:
        case_id: unique, stable identifier (used in split files).
        load: returns (images float32 (n, C, S, S) in [-1, 1], labels uint8 (n, S, S)).
        is_volume: True for volumes (metrics are then per volume, not per slice).
        label_path: the label/mask file, for messages (None for synthetic cases).
        label_values: raw label values (before the class mapping) found by the last ``load``;
            None until loaded, and for kinds that do not record them.
        native: returns the class-index labels (n, H, W) on the case's own in-plane grid (after the
            same reorientation or crop as ``load``, before the resize to the training size), for
            scoring there (``sdseg-eval --grid native``); None for kinds without label files.
    """

    case_id: str
    load: Callable[[], Tuple[np.ndarray, np.ndarray]]
    is_volume: bool = False
    label_path: Optional[str] = None
    label_values: Optional[FrozenSet[int]] = None
    native: Optional[Callable[[], np.ndarray]] = None


@dataclass
class SliceSet:
    """Slices of several cases, in memory.

    Attributes:
        images: float16 (N, C, S, S) in [-1, 1].
        labels: uint8 (N, S, S) class indices.
        case_ids: (N,) case id of every slice.
        num_classes: foreground classes F (label values 1..F).
        is_volume: per case id, whether it is a volume.
    """

    images: np.ndarray
    labels: np.ndarray
    case_ids: List[str]
    num_classes: int
    is_volume: Dict[str, bool] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @classmethod
    def from_cases(cls, cases: Sequence[Case], num_classes: int, cache_rate: float = 1.0) -> "SliceSet":
        """Load ``cases`` through a MONAI ``CacheDataset`` (each case is read once) and stack them."""
        from monai.data import CacheDataset

        if not cases:
            raise ValueError("no cases to load: the split selected none; check the split file and data.root")
        items = [{"index": i} for i in range(len(cases))]
        images, labels, ids = [], [], []
        with _own_errors():
            loaded = CacheDataset(items, transform=lambda d: cases[d["index"]].load(), cache_rate=cache_rate, progress=False)
            for case, (img, lab) in zip(cases, loaded):
                if img.ndim != 4 or lab.ndim != 3 or img.shape[0] != lab.shape[0] or img.shape[-2:] != lab.shape[-2:]:
                    raise ValueError(f"case {case.case_id}: images {img.shape} and labels {lab.shape} do not match (n, C, S, S) / (n, S, S)")
                images.append(img.astype(np.float16))
                labels.append(lab.astype(np.uint8))
                ids.extend([case.case_id] * img.shape[0])
        channels = {im.shape[1] for im in images}
        if len(channels) != 1:
            raise ValueError(f"cases mix channel counts {sorted(channels)}; a dataset must be all grey or all RGB")
        return cls(np.concatenate(images), np.concatenate(labels), ids, num_classes, {c.case_id: c.is_volume for c in cases})

    def image3(self, index: int) -> np.ndarray:
        """Float32 (3, S, S) image of slice ``index`` (grey repeated to 3 channels)."""
        img = self.images[index].astype(np.float32)
        return np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img

    def cases(self) -> Dict[str, np.ndarray]:
        """Case id -> slice indices (in slice order)."""
        out: Dict[str, List[int]] = {}
        for i, cid in enumerate(self.case_ids):
            out.setdefault(cid, []).append(i)
        return {k: np.asarray(v) for k, v in out.items()}


@contextmanager
def _own_errors() -> Iterator[None]:
    """Re-raise our own errors (e.g. :class:`DatasetError`) that MONAI wraps in ``RuntimeError``."""
    from SDSegLogic.errors import SDSegError

    try:
        yield
    except RuntimeError as exc:
        if isinstance(exc.__cause__, SDSegError):
            raise exc.__cause__ from None
        raise


def binary_target(labels: np.ndarray, class_index: int) -> np.ndarray:
    """Binary mask of one network class: 0 = union of all foreground, c = label value c."""
    return labels > 0 if class_index == 0 else labels == class_index


class TrainSlices(torch.utils.data.Dataset):
    """Training items with random flips and (multi-class) one class per slice.

    Items are requested as ``(index, item_seed)``; the result is a dict with ``image`` float32
    (3, S, S) in [-1, 1], ``mask`` float32 (3, S, S) in {-1, +1} and ``class_label`` int64.

    Args:
        slices: the training slice set.
        multiclass: pick one class per slice (class 0 = union of foreground); else the union.
        absent_class_probability: chance of training on an absent class instead (empty target).
        flips: random horizontal and vertical flips (same on image and mask).
    """

    def __init__(self, slices: SliceSet, multiclass: bool, absent_class_probability: float = 0.0, flips: bool = True) -> None:
        self.slices = slices
        self.multiclass = multiclass
        self.absent = float(absent_class_probability)
        self.flips = flips

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, key: Tuple[int, int]) -> Dict[str, torch.Tensor]:
        index, item_seed = key
        rng = np.random.default_rng(item_seed)
        image = self.slices.image3(index)
        labels = self.slices.labels[index]
        class_index = 0
        if self.multiclass:
            present = [0] + [int(c) for c in np.unique(labels) if c > 0]
            absent = [c for c in range(1, self.slices.num_classes + 1) if c not in present]
            if absent and rng.random() < self.absent:
                class_index = int(rng.choice(absent))
            else:
                class_index = int(rng.choice(present))
        else:
            rng.random()  # keep the random stream layout identical in both modes
        mask = binary_target(labels, class_index).astype(np.float32) * 2.0 - 1.0
        if self.flips:
            if rng.random() < 0.5:
                image, mask = image[:, :, ::-1], mask[:, ::-1]
            if rng.random() < 0.5:
                image, mask = image[:, ::-1, :], mask[::-1, :]
        mask3 = np.repeat(mask[None], 3, axis=0)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image)),
            "mask": torch.from_numpy(np.ascontiguousarray(mask3)),
            "class_label": torch.tensor(class_index, dtype=torch.long),
        }


def collate(items: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class EpochBatchSampler(torch.utils.data.Sampler):
    """Endless, resumable batches of ``(index, item_seed)`` for one process of a DDP run.

    Epoch e uses the permutation ``randperm(n, seed + e)``; process r of w takes every w-th
    entry from r (its share, ``n // w`` samples per epoch), and a tail that cannot fill a batch is
    dropped. A resumed run starts at ``start`` (an epoch and the samples of its share already drawn,
    whatever the batch size that drew them), then skips ``start_batch`` batches of this size.

    Args:
        num_items: dataset size n.
        batch_size: per-process batch size.
        seed: run seed.
        rank, world_size: this process and the number of processes.
        start_batch: batches of ``batch_size`` already consumed by this process after ``start``.
        start: ``(epoch, samples drawn in it)`` where the data position begins (:func:`advance_position`).
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1, start_batch: int = 0,
                 start: Tuple[int, int] = (0, 0)) -> None:
        self.n = int(num_items)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank, self.world = int(rank), int(world_size)
        self.per_process = self.n // self.world
        self.batches_per_epoch = self.per_process // self.batch_size
        if self.batches_per_epoch < 1:
            from ..errors import TrainingConfigError

            raise TrainingConfigError(
                f"{self.n} training slices cannot fill one batch of {self.batch_size} on each of {self.world} "
                "process(es); lower train.batch_size or add data"
            )
        self.start = advance_position(start, int(start_batch), self.per_process, self.batch_size)

    def __len__(self) -> int:  # endless; a nominal length for tools that ask
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        epoch, offset = self.start
        while True:
            gen = torch.Generator().manual_seed((self.seed * 100003 + epoch) % 2**64)  # as torch maps a negative seed
            order = torch.randperm(self.n, generator=gen)[self.rank :: self.world].tolist()
            while offset + self.batch_size <= self.per_process:
                chunk = order[offset : offset + self.batch_size]
                yield [(idx, _item_seed(self.seed, epoch, self.rank, offset + j)) for j, idx in enumerate(chunk)]
                offset += self.batch_size
            epoch, offset = epoch + 1, 0


def advance_position(start: Tuple[int, int], batches: int, per_process: int, batch_size: int) -> Tuple[int, int]:
    """The data position ``(epoch, samples drawn in it)`` after ``batches`` more batches of ``batch_size``.

    A batch never spans two epochs: when fewer than ``batch_size`` samples of the epoch's share
    (``per_process``) are left, they are dropped and the next batch opens the next epoch.
    """
    epoch, offset = int(start[0]), int(start[1])
    per_epoch = per_process // batch_size
    if offset + batch_size > per_process:
        epoch, offset = epoch + 1, 0
    left = (per_process - offset) // batch_size  # whole batches left in the current epoch
    if batches < left:
        return epoch, offset + batches * batch_size
    more_epochs, position = divmod(batches - left, per_epoch)
    return epoch + 1 + more_epochs, position * batch_size


def _item_seed(seed: int, epoch: int, rank: int, position: int) -> int:
    """The seed of one item's flips and class choice; ``SeedSequence`` takes no negative entry, so the
    run seed enters modulo 2**64 (unchanged for the seeds it accepted)."""
    return int(np.random.SeedSequence([int(seed) % 2**64, epoch, rank, position]).generate_state(1)[0])
