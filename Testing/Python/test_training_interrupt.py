"""Ctrl-C (a real SIGINT) during training: both stages finish the step, save a resumable checkpoint,
name it and the command that resumes, exit with 130, and resuming reproduces the uninterrupted run."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training import cli  # noqa: E402
from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

TINY = ["model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=phantom2d",
        "data.size=32", "data.phantom_cases=12", "data.multiclass=true", "model.num_classes=3", "train.batch_size=4",
        "train.log_every=1", "optim.warmup_steps=2"]
STAGE1 = ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=10", "data.multiclass=true",
          "model.num_classes=3", "autoencoder.max_steps=6", "autoencoder.val_every=3", "autoencoder.batch_size=4"]


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


class CtrlCDuringStep(Stage2Trainer):
    """The trainer, with a real Ctrl-C (SIGINT to this process) arriving while step ``interrupt_at + 1`` runs."""

    interrupt_at = -1

    def train_step(self, micro_batches, sync_losses: bool = True):
        if self.step == self.interrupt_at:
            _ctrl_c()
        return super().train_step(micro_batches, sync_losses)


def test_deferred_interrupt_waits_for_the_loop_and_a_second_ctrl_c_stops_at_once():
    from sdseg_training.interrupt import DeferredInterrupt

    lines = []
    with DeferredInterrupt(lines.append, "step 7") as interrupt:
        _ctrl_c()
        assert interrupt.requested and "finishing step 7" in lines[0] and "Ctrl-C again" in lines[0]
        with pytest.raises(KeyboardInterrupt):
            _ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_is_deferred_like_ctrl_c_and_the_handlers_are_restored():
    """A batch scheduler's SIGTERM (pre-emption, time limit) also finishes the step and saves first."""
    from sdseg_training.interrupt import DeferredInterrupt

    def not_deferred(signum, frame):  # instead of the default action (ending the test run) if it is not deferred
        raise AssertionError("SIGTERM reached the previous handler")

    before = signal.signal(signal.SIGTERM, not_deferred)
    try:
        lines = []
        with DeferredInterrupt(lines.append, "step 3") as interrupt:
            os.kill(os.getpid(), signal.SIGTERM)
            assert interrupt.requested and interrupt.signal_name == "SIGTERM"
            assert lines[0].startswith("SIGTERM (a request to stop) received: finishing step 3")
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)  # a second signal of either kind stops at once
        assert signal.getsignal(signal.SIGTERM) is not_deferred and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, before)


def test_stage2_ctrl_c_saves_the_step_and_resumes_exactly(tmp_path):
    def config(run: Path):
        return load_config(None, TINY + [f"train.output_dir={run}", "train.max_steps=5", "train.grad_accum=2",
                                         "train.ckpt_every=100", "train.val_every=2"])

    straight = Stage2Trainer(config(tmp_path / "a"), resume="none")
    straight.run()
    cut = CtrlCDuringStep(config(tmp_path / "b"), resume="none")
    cut.interrupt_at = 2
    with pytest.raises(KeyboardInterrupt) as info:
        cut.run()
    folder = tmp_path / "b" / "checkpoints" / "step-00000003"
    assert info.value.step == 3 and info.value.checkpoint == folder  # the step under way was finished, then saved
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    state = json.loads((folder / "state.json").read_text())
    assert state["step"] == 3 and state["micro_batches"] == 6 and state["ema_updates"] == 3
    best = json.loads((tmp_path / "b" / "checkpoints" / "best" / "state.json").read_text())
    assert best["step"] == 2  # the interrupt checkpoint is not marked best
    assert not any(p.name.startswith(".") for p in folder.parent.iterdir())  # written atomically: no staging left

    resumed = Stage2Trainer(config(tmp_path / "b"), resume="auto")
    assert resumed.step == 3
    resumed.run()
    a, b = straight.denoiser.state_dict(), resumed.denoiser.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ea, eb = straight.ema.shadow.state_dict(), resumed.ema.shadow.state_dict()
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    assert resumed.best == straight.best and resumed.history == straight.history


def test_stage1_ctrl_c_saves_a_resume_checkpoint_and_resumes_exactly(tmp_path):
    def config(name: str):
        return load_config(None, STAGE1 + [f"autoencoder.output_dir={tmp_path / name}"])

    straight = train_autoencoder(config("a"), log=lambda *_: None)

    def ctrl_c_after_the_step_3_validation(line: str) -> None:
        if line.startswith("step 3:"):
            _ctrl_c()

    with pytest.raises(KeyboardInterrupt) as info:
        train_autoencoder(config("b"), log=ctrl_c_after_the_step_3_validation)
    folder = tmp_path / "b" / "stage1-resume"
    assert info.value.step == 3 and info.value.checkpoint == folder
    assert json.loads((folder / "state.json").read_text())["step"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    lines = []
    resumed = train_autoencoder(config("b"), log=lines.append)  # the folder's own interrupted run: no refusal
    assert any(line.startswith(f"resuming stage 1 from {folder} at step 3") for line in lines)
    assert not folder.exists()  # the run is complete
    assert (tmp_path / "a" / "autoencoder.safetensors").read_bytes() == (tmp_path / "b" / "autoencoder.safetensors").read_bytes()
    assert resumed["dice_mean"] == straight["dice_mean"] and resumed["step"] == straight["step"] == 6


def test_stage1_overwrite_starts_an_interrupted_run_over(tmp_path):
    cfg = load_config(None, STAGE1 + [f"autoencoder.output_dir={tmp_path / 'ae'}", "autoencoder.max_steps=3"])

    def ctrl_c_at_the_first_validation(line: str) -> None:
        if line.startswith("step 3:"):
            _ctrl_c()

    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(load_config(None, STAGE1 + [f"autoencoder.output_dir={tmp_path / 'ae'}"]),
                          log=ctrl_c_at_the_first_validation)
    folder = tmp_path / "ae" / "stage1-resume"
    shape = ["model.architecture={autoencoder: {latent_channels: 8}}"]
    with pytest.raises(TrainingConfigError, match=rf"cannot resume {folder}: .*autoencoder.latent_channels: 4 in the run, 8 now"):
        train_autoencoder(load_config(None, STAGE1 + shape + [f"autoencoder.output_dir={tmp_path / 'ae'}"]), log=lambda *_: None)
    binary = ["data.multiclass=false", "model.num_classes=null"]
    with pytest.raises(TrainingConfigError, match=rf"cannot resume {folder}: it was trained with multiclass, .* gives binary"):
        train_autoencoder(load_config(None, STAGE1 + binary + [f"autoencoder.output_dir={tmp_path / 'ae'}"]), log=lambda *_: None)
    lines = []
    result = train_autoencoder(cfg, log=lines.append, overwrite=True)
    assert result["steps_run"] == 3 and not any(line.startswith("resuming") for line in lines)
    assert not (tmp_path / "ae" / "stage1-resume").exists() and (tmp_path / "ae" / "replaced").is_dir()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_sdseg_train_ctrl_c_exits_130_and_prints_the_resume_command(tmp_path, capsys, signum):
    """The console command in its own process, stopped by a real SIGINT (Ctrl-C) or SIGTERM (a scheduler's
    pre-emption), then resumed with the printed command."""
    run = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  max_steps: 100000\n")
    args = [str(config), *TINY, f"train.output_dir={run}", "train.ckpt_every=1", "train.val_every=100000", "train.keep_checkpoints=1"]
    code = "import sys; from sdseg_training.cli import train_main; sys.exit(train_main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TRAINING), str(TRAINING.parent), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 240
        while not list(run.glob("checkpoints/step-*")) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("sdseg-train: error: interrupted at step ") and "Traceback" not in err
    step = int(last.split("interrupted at step ")[1].split(";")[0])
    folder = run / "checkpoints" / f"step-{step:08d}"
    assert f"checkpoint saved in {folder}. Resume with: sdseg-train " in last
    assert json.loads((folder / "state.json").read_text())["step"] == step
    command = shlex.split(last.split("Resume with: ")[1])
    assert command[:2] == ["sdseg-train", str(config)]
    assert cli.train_main(command[1:] + [f"train.max_steps={step + 1}"]) == 0
    assert f"resumed from {folder} at step {step}" in capsys.readouterr().out
    assert (run / "checkpoints" / f"step-{step + 1:08d}" / "state.json").is_file()
