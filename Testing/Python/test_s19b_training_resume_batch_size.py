"""A resume with another ``train.batch_size`` continues the epoch at the sample the run reached.

The data order is one permutation per epoch; a run at batch 4 that stopped after three batches has
seen the first samples of that order. Resumed at batch 3, the next batch must be the following
samples, never one seen already in this epoch (rounding the position down to whole batches of the
new size, or mapping it onto the new size's epoch length, draws seen samples again).
"""

from __future__ import annotations

import json
import sys
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.data import EpochBatchSampler  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_loop import tiny_config  # noqa: E402

FIXED = ("data.flips=false", "train.ckpt_every=3")  # no flips: a slice's image identifies it


def _ids(batch) -> list:
    return [img.numpy().tobytes() for img in batch["image"]]


def _epochs(run: Path, count: int) -> list:
    """Each epoch's slices in the run's order: a batch-1 stream of the same seed draws the same permutation."""
    trainer = Stage2Trainer(tiny_config(run, *FIXED, "train.batch_size=1"), resume="none")
    n = len(trainer.dataset)
    flat = [i for b in islice(trainer.batches(), n * count) for i in _ids(b)]
    return [flat[e * n:(e + 1) * n] for e in range(count)]


def _seen_at_stop(epochs: list, batches: int, batch_size: int):
    """(epoch, slices seen in it) after ``batches`` batches of ``batch_size`` (incomplete tails dropped)."""
    per_epoch = len(epochs[0]) // batch_size
    epoch, done = divmod(batches, per_epoch)
    return epoch, epochs[epoch][:done * batch_size]


def test_resume_with_a_smaller_batch_draws_no_sample_twice_in_the_epoch(tmp_path):
    Stage2Trainer(tiny_config(tmp_path / "run", *FIXED, "train.max_steps=3"), resume="none").run()  # 3 batches of 4
    resumed = Stage2Trainer(tiny_config(tmp_path / "run", *FIXED, "train.max_steps=6", "train.batch_size=3"), resume="auto")
    epochs = _epochs(tmp_path / "order", 3)
    epoch, seen = _seen_at_stop(epochs, 3, 4)
    rest = epochs[epoch][len(seen):]
    following = [i for b in islice(resumed.batches(), len(rest) // 3) for i in _ids(b)]
    repeated = len(set(following) & set(seen))
    assert repeated == 0, f"{repeated} slice(s) seen in this epoch drawn again after the resume"
    assert following == rest[:len(following)]  # the epoch goes on where it stopped
    resumed.run()  # three batches of 3: the rest of this epoch, then the next one begins
    state = json.loads((tmp_path / "run" / "checkpoints" / "step-00000006" / "state.json").read_text())
    assert state["step"] == 6
    stream = rest[:len(rest) // 3 * 3] + epochs[epoch + 1][:len(epochs[0]) // 3 * 3]
    again = Stage2Trainer(tiny_config(tmp_path / "run", *FIXED, "train.max_steps=7", "train.batch_size=3"), resume="auto")
    assert _ids(next(again.batches())) == stream[9:12]  # a second resume goes on exactly from there too


def test_sampler_started_inside_an_epoch_gives_each_sample_once_with_its_own_seed():
    n, size = 22, 3
    full = [item for batch in islice(EpochBatchSampler(n, 1, seed=5), 2 * n) for item in batch]
    started = EpochBatchSampler(n, size, seed=5, start=(1, 5))  # epoch 1, five samples of it already drawn
    drawn = [item for batch in islice(started, (n - 5) // size + 1) for item in batch]
    in_epoch = (n - 5) // size * size
    assert drawn[:in_epoch] == full[n + 5:n + 5 + in_epoch]  # same slices, same flips and class choice
    assert len({idx for idx, _ in drawn[:in_epoch]} | {idx for idx, _ in full[n:n + 5]}) == in_epoch + 5
    tail = EpochBatchSampler(n, size, seed=5, start=(2, 0))  # after the epoch's last whole batch: the next epoch
    assert drawn[in_epoch:] == next(iter(tail))


def test_a_checkpoint_without_data_position_resumes_at_the_same_sample(tmp_path):
    """Checkpoints written before ``data_position`` existed: ``micro_batches`` of the recorded batch size."""
    Stage2Trainer(tiny_config(tmp_path / "run", *FIXED, "train.max_steps=3"), resume="none").run()
    folder = tmp_path / "run" / "checkpoints" / "step-00000003"
    resumed = Stage2Trainer(tiny_config(tmp_path / "run", *FIXED, "train.max_steps=6", "train.batch_size=3"), resume="auto")
    state_file = folder / "state.json"
    state = json.loads(state_file.read_text())
    epoch, batches = divmod(3, len(resumed.dataset) // 4)
    assert state["data_position"] == [epoch, batches * 4]  # three batches of 4 drawn
    del state["data_position"]
    state_file.write_text(json.dumps(state))
    older = Stage2Trainer(tiny_config(tmp_path / "run", *FIXED, "train.max_steps=6", "train.batch_size=3"), resume="auto")
    assert _ids(next(older.batches())) == _ids(next(resumed.batches()))
