"""Stage 2 under a real two-process launch (``torchrun``, the gloo backend on the CPU): what a DDP run on
several GPUs goes through, with the same code paths (gradient all-reduce, two micro-batches per step with
the first one's all-reduce skipped (``no_sync``), per-rank data shards and noise,
rank 0 writing the checkpoint with every rank's generator states, the per-step stop vote).

Each launch starts two Python processes that import torch and diffusers (~15 s on two cores), so the
launches are shared: one uninterrupted reference run, one run stopped and resumed at a fixed step, one
stopped by SIGTERM to rank 1 alone, one by Ctrl-C (SIGINT) to the launcher, one by the time budget.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
TRAINING = REPO / "training"
CONFIG = TRAINING / "configs" / "phantom_lite.yaml"
TINY = ["model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=phantom2d",
        "data.size=32", "data.phantom_cases=12", "data.multiclass=true", "model.num_classes=3", "train.batch_size=2",
        "train.log_every=1", "optim.warmup_steps=2", "train.mixed_precision=no", "train.val_every=100000",
        "train.ckpt_every=3", "train.keep_checkpoints=10", "train.grad_accum=2"]
STEPS = 12
LAUNCH_TIMEOUT_S = 300


def _env() -> dict:
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(TRAINING), str(REPO), os.environ.get("PYTHONPATH", "")])}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _command(run: Path, max_steps: int, extra: List[str] = ()) -> List[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "sdseg_training.train", str(CONFIG), *TINY, f"train.output_dir={run}", f"train.max_steps={max_steps}", *extra]


def _launch(run: Path, max_steps: int, extra: List[str] = ()) -> subprocess.CompletedProcess:
    done = subprocess.run(_command(run, max_steps, extra), capture_output=True, text=True, env=_env(), timeout=LAUNCH_TIMEOUT_S)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


def _workers(launcher: int) -> dict:
    """{rank: pid} of the launcher's worker processes (from /proc: their parent and their RANK)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != launcher:
                continue
            env = dict(v.split("=", 1) for v in (entry / "environ").read_bytes().decode(errors="replace").split("\0") if "=" in v)
        except (OSError, IndexError, ValueError):
            continue
        if "RANK" in env:
            found[int(env["RANK"])] = int(entry.name)
    return found


def _interrupted(run: Path, send) -> tuple:
    """Launch to ``STEPS``, call ``send(launcher_pid)`` once the step-3 checkpoint exists; (output, stopped step)."""
    proc = subprocess.Popen(_command(run, STEPS), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
                            start_new_session=True)
    try:
        deadline = time.time() + LAUNCH_TIMEOUT_S
        while not (run / "checkpoints" / "step-00000003").is_dir() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[0][-4000:]
        send(proc.pid)
        out, _ = proc.communicate(timeout=LAUNCH_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    found = re.findall(r"interrupted: step (\d+) saved in (\S+)\. To resume", out)
    assert len(found) == 1, out[-4000:]  # rank 0 reports once
    step = int(found[0][0])
    assert 3 <= step < STEPS, f"the run was not stopped before its end (step {step}); the test needs a slower step:\n{out[-2000:]}"
    assert Path(found[0][1]) == run / "checkpoints" / f"step-{step:08d}"
    return out, step


def _weights(run: Path, step: int) -> dict:
    folder = run / "checkpoints" / f"step-{step:08d}"
    return {name: load_file(str(folder / f"{name}.safetensors")) for name in ("model", "ema", "optimizer")}


def _assert_same(a: dict, b: dict) -> None:
    for name in a:
        assert a[name].keys() == b[name].keys()
        unequal = [k for k in a[name] if not torch.equal(a[name][k], b[name][k])]
        assert not unequal, f"{name}: {len(unequal)} tensors differ, e.g. {unequal[:3]}"


def _assert_complete(run: Path, step: int) -> dict:
    """The checkpoint holds both ranks' generator states inside its one folder; returns its state."""
    folder = run / "checkpoints" / f"step-{step:08d}"
    state = json.loads((folder / "state.json").read_text())
    assert state["step"] == step and state["num_processes"] == 2
    assert sorted(state["rng"]) == ["0", "1"]
    assert (folder / "rng-rank0.safetensors").is_file() and (folder / "rng-rank1.safetensors").is_file()
    assert not (folder / "rng-rank1.json").exists()  # rank 1 no longer writes into rank 0's finished folder
    assert not [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left
    return state


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The uninterrupted two-process reference run to ``STEPS``."""
    run = tmp_path_factory.mktemp("mp") / "straight"
    _launch(run, STEPS)
    _assert_complete(run, STEPS)
    return run


def test_two_processes_resume_exactly(straight, tmp_path):
    run = tmp_path / "cut"
    _launch(run, 6)
    _assert_complete(run, 6)
    rank0 = load_file(str(run / "checkpoints" / "step-00000006" / "rng-rank0.safetensors"))["torch_cpu"]
    rank1 = load_file(str(run / "checkpoints" / "step-00000006" / "rng-rank1.safetensors"))["torch_cpu"]
    assert not torch.equal(rank0, rank1)  # each process's own dropout stream, not rank 0's twice
    done = _launch(run, STEPS)
    assert f"resumed from {run / 'checkpoints' / 'step-00000006'} at step 6" in done.stdout + done.stderr
    _assert_same(_weights(straight, STEPS), _weights(run, STEPS))


def test_sigterm_to_one_process_stops_both_after_the_same_step_and_resumes_exactly(straight, tmp_path):
    """A scheduler's SIGTERM that reaches rank 1 only: the vote stops rank 0 after the same step."""
    run = tmp_path / "term"

    def sigterm_rank1(launcher: int) -> None:
        workers = _workers(launcher)
        assert sorted(workers) == [0, 1], workers
        os.kill(workers[1], signal.SIGTERM)

    out, step = _interrupted(run, sigterm_rank1)
    _assert_complete(run, step)
    _launch(run, STEPS)
    _assert_same(_weights(straight, STEPS), _weights(run, STEPS))


def test_ctrl_c_to_the_launcher_saves_one_complete_checkpoint_and_one_process_resumes_with_a_warning(tmp_path):
    """Ctrl-C in the launcher's terminal: torchrun passes SIGINT on to each worker; both finish the step.
    The run is then continued by one process (no launcher), which works but says it is not exact."""
    run = tmp_path / "ctrl-c"
    out, step = _interrupted(run, lambda launcher: os.kill(launcher, signal.SIGINT))
    assert "interrupt received: finishing this step" in out
    state = _assert_complete(run, step)
    assert state["ema_updates"] == step
    single = [sys.executable, "-m", "sdseg_training.train"] + _command(run, step + 1)[8:]
    done = subprocess.run(single, capture_output=True, text=True, env=_env(), timeout=LAUNCH_TIMEOUT_S)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    text = " ".join((done.stdout + done.stderr).split())
    assert f"resumed from {run / 'checkpoints' / f'step-{step:08d}'} at step {step}" in text
    assert "was written by 2 process(es) and this run has 1" in text and "global batch changes from 8 to 4" in text
    assert json.loads((run / "checkpoints" / f"step-{step + 1:08d}" / "state.json").read_text())["num_processes"] == 1


def test_the_processes_data_shards_are_disjoint_cover_the_epoch_and_resume_in_place():
    sys.path.insert(0, str(TRAINING))
    from sdseg_training.data import EpochBatchSampler

    def take(rank: int, batches: int, start: int = 0) -> list:
        it = iter(EpochBatchSampler(22, 3, seed=5, rank=rank, world_size=2, start_batch=start))
        return [next(it) for _ in range(batches)]

    per_epoch = EpochBatchSampler(22, 3, seed=5, rank=0, world_size=2).batches_per_epoch
    assert per_epoch == 3  # 11 slices per process, 3 full batches of 3
    epoch0 = {rank: [i for batch in take(rank, per_epoch) for i, _ in batch] for rank in (0, 1)}
    assert not set(epoch0[0]) & set(epoch0[1]) and len(set(epoch0[0]) | set(epoch0[1])) == 18
    seeds = {rank: [s for batch in take(rank, per_epoch) for _, s in batch] for rank in (0, 1)}
    assert not set(seeds[0]) & set(seeds[1])  # each slice's flips and class draw differ between processes
    assert take(1, 5)[2:] == take(1, 3, start=2)  # a resumed process continues at its own position, into epoch 1


def test_one_process_acts_on_its_own_stop_flags_at_once():
    sys.path.insert(0, str(TRAINING))
    from sdseg_training.stop_vote import StopVote

    vote = StopVote(None)
    assert not vote.distributed
    assert vote.cast(False, False) == (False, False)
    assert vote.cast(True, False).interrupted and vote.cast(False, True).out_of_time


def test_the_time_budget_stops_both_processes_after_the_same_step(tmp_path):
    """``train.time_budget_s`` is checked by each process's own clock; the vote makes them stop together."""
    run = tmp_path / "budget"
    done = _launch(run, 100000, ["train.time_budget_s=4"])
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    step = summary["step"]
    assert summary["stopped_by_time_budget"] and 0 < step < 100000
    _assert_complete(run, step)  # the final checkpoint of the step both stopped after


def test_stage1_refuses_a_multi_process_launch(tmp_path):
    """Stage 1 under ``torchrun --nproc_per_node 2``: one clear refusal (from rank 0), nothing written.

    Before, every process ran the whole of stage 1 into the same output folder.
    """
    out = tmp_path / "stage1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "sdseg_training.train_ae", str(CONFIG), *TINY, f"autoencoder.output_dir={out}"]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=LAUNCH_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert output.count("sdseg-train-ae runs in one process, but this launch started 2 (WORLD_SIZE=2)") == 1, output[-3000:]
    assert not out.exists()


@pytest.mark.parametrize("rank", ["0", "1"])
def test_export_and_eval_refuse_several_processes(tmp_path, monkeypatch, capsys, rank):
    """The environment torchrun / accelerate launch set (WORLD_SIZE, RANK): rank 0 says why, the others exit quietly."""
    from sdseg_training.cli import EXIT_USAGE, eval_main, export_main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    model = tmp_path / "model"
    assert export_main([str(CONFIG), *TINY, f"train.output_dir={tmp_path / 'run'}", "--out", str(model)]) == EXIT_USAGE
    assert eval_main([str(CONFIG), *TINY, f"train.output_dir={tmp_path / 'run'}"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("runs in one process, but this launch started 2") == (2 if rank == "0" else 0), err
    assert not model.exists() and not (tmp_path / "run").exists()
