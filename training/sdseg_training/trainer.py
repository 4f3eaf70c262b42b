"""Stage 2: train tau_theta and the denoising UNet against a frozen autoencoder (Accelerate).

One optimizer step (``grad_accum`` micro-batches per process)::

    z0 = s * AE.encode(mask3).sample()            frozen, no grad
    loss = L1(eps_hat, eps) + lambda * L1(z0_hat, z0)   (:func:`~.losses.sdseg_loss`)
    AdamW; lr = lr_per_sample * global batch, linear warm-up from warmup_start_factor * lr
    EMA(UNet) with decay min(max, (1 + n) / (10 + n))

Determinism: data order and augmentation come from :class:`~.data.EpochBatchSampler`; t and eps
from a generator seeded by (seed, step, rank, micro-batch); dropout from the global torch RNG
(seeded per process, so that the processes of a DDP run draw different dropout masks), whose state
every process checkpoints. Resuming at step n therefore reproduces step n + 1 exactly.

Ctrl-C (:mod:`.interrupt`) finishes the step under way, saves it as an ordinary step checkpoint
and raises :class:`~.errors.TrainingInterrupted`; a resume from it is exact as well. A resume
refuses a config whose classes, data kind, size or window, or model shape differ from the checkpoint's
(:mod:`.run_compat`). Weights that turn NaN or infinite stop the run before they are saved (:mod:`.divergence`).
A resume at a step whose validation a crash cut short validates that step first (:mod:`.selection`).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from SDSegLogic.device import slow_cpu_bf16_note

from .checkpoint import (best_record_after_crash, capture_rng, gather_rank_rng, latest_checkpoint, load_checkpoint,
                         prune_step_checkpoints, restore_rng, save_checkpoint, update_checkpoint_state)
from .config_checks import check_class_count
from .data import EpochBatchSampler, TrainSlices, collate, load_data
from .data.slices import advance_position
from .left_branch import set_aside_left_branch
from .denoiser import Denoiser, lr_at, null_context, resumed_position
from .divergence import DivergenceGuard, stage2_kept
from .ema import EMA
from .errors import ResumeError, TrainingInterrupted
from .interrupt import DeferredInterrupt
from .losses import sdseg_loss
from .modeling import autoencoder_fingerprint, build_model, build_model_config, resolve_autoencoder_source
from .run_folder import claim_run_folder, resume_path
from .run_compat import check_same_classes, check_same_data, check_same_shape, process_count_note
from .run_record import record_resolved_config, resumed_config_path
from .selection import validate_and_select, validation_owed
from .seeds import dropout_seed, step_generator
from .split_leak import autoencoder_test_overlap, run_split_path
from .stage1_resume import resume_checkpoint
from .stop_vote import StopVote, budget_cuts_short
from .tb_log import open_summary_writer

__all__ = ["Stage2Trainer", "Denoiser", "lr_at", "record_resolved_config"]


class Stage2Trainer:
    """Set up and run stage 2 for a :class:`~sdseg_training.config.TrainConfig`.

    Args:
        cfg: the configuration.
        resume: ``"auto"`` (latest checkpoint in ``train.output_dir`` if any), ``"none"``, or a path.
            ``"none"`` in a run folder that already holds checkpoints raises :class:`ResumeError`
            unless ``overwrite`` is set (two runs would otherwise mix in one folder).
        accelerator: an ``accelerate.Accelerator`` (built from the config when None).
        overwrite: with ``resume="none"``: first remove what an earlier run of this trainer wrote
            there (:func:`~.checkpoint.remove_run_files`); nothing else in the folder is touched.
    """

    def __init__(self, cfg, resume: str = "auto", accelerator=None, overwrite: bool = False) -> None:
        from accelerate import Accelerator

        self.cfg = cfg
        tc = cfg.train
        if tc.num_threads:
            torch.set_num_threads(int(tc.num_threads))
        self.accelerator = accelerator or Accelerator(mixed_precision=tc.mixed_precision, cpu=not torch.cuda.is_available())
        acc = self.accelerator
        # bf16 autocast on an AVX2-only CPU is emulated: the demo's stage 2 ran 39 s/step, 1.8 s/step in fp32
        slow = slow_cpu_bf16_note(acc.device, tc.mixed_precision == "bf16", "set train.mixed_precision=no on this machine")
        if slow and acc.is_main_process:
            warnings.warn(slow, stacklevel=2)
        if acc.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest convolutions
        self.out = Path(tc.output_dir)
        source = resolve_autoencoder_source(cfg, log=acc.print)  # null -> this config's stage-1 output (logged), or refuse
        if resume_checkpoint(source) is not None and acc.is_main_process:
            warnings.warn(f"{source} holds an interrupted stage-1 run (stage1-resume/): its weights change when that run "
                          "is resumed, and this run could then no longer be resumed, evaluated or exported with them.", stacklevel=2)
        # everything that needs no data is checked before anything is written (split.json, a removed earlier run)
        config = build_model_config(cfg.model, cfg.data)
        torch.manual_seed(tc.seed)
        self.model = build_model(config, cfg.model)
        claim_run_folder(self.out, resume, overwrite, acc)
        ckpt = self.resumed_from = resume_path(self.out, resume)
        self.out.mkdir(parents=True, exist_ok=True)
        self.info, self.split, sets = load_data(cfg.data, self.out)
        cfg.data.image_resize = self.info.image_resize  # null -> the kind's mode, so that the run's records name it
        leak = autoencoder_test_overlap(source, run_split_path(cfg)) if acc.is_main_process else None
        if leak:
            warnings.warn(leak, stacklevel=2)
        check_class_count(cfg.model.num_classes, cfg.data.multiclass, len(self.info.class_names), f"data.kind={cfg.data.kind}")
        self.train_set, self.val_set = sets["train"], sets.get("val")
        self.model.autoencoder.to(acc.device)
        self.autoencoder_sha256 = autoencoder_fingerprint(self.model.autoencoder)
        unet_autocast = tc.unet_autocast if tc.unet_autocast is not None else tc.mixed_precision != "bf16"
        self.denoiser = Denoiser(self.model.condition_encoder, self.model.unet, unet_autocast)
        self.denoiser.train()
        self.global_batch = tc.batch_size * tc.grad_accum * acc.num_processes
        self.base_lr = float(cfg.optim.lr) if cfg.optim.lr is not None else cfg.optim.lr_per_sample * self.global_batch
        optimizer = torch.optim.AdamW(self.denoiser.parameters(), lr=self.base_lr, betas=tuple(cfg.optim.betas),
                                      weight_decay=cfg.optim.weight_decay)
        self.denoiser, self.optimizer = acc.prepare(self.denoiser, optimizer)  # DDP: rank 0's initial weights everywhere
        if acc.process_index > 0:  # dropout: each process its own stream; rank 0 keeps the single-process one
            torch.manual_seed(dropout_seed(tc.seed, acc.process_index))
        self.ema = EMA(self.model.unet, tc.ema_max_decay)
        self.ema.shadow.to(acc.device)
        from SDSegLogic.schedulers import NoiseSchedule

        self.schedule = NoiseSchedule(config.schedule)
        self.step = 0
        self.micro_batches = 0  # batches this process drew, of whatever size (a record; the position is below)
        self.data_start, self.drawn_at_start = (0, 0), 0  # data position (epoch, samples drawn) when this invocation began
        self.best: Dict[str, Any] = {"metric": None, "step": None}
        self.scale_factor: Optional[float] = None
        self.history: list = []
        if ckpt is not None:
            self._load(ckpt)
        self.dataset = TrainSlices(
            self.train_set, cfg.data.multiclass, cfg.data.absent_class_probability, flips=cfg.data.flips
        )

    # ------------------------------------------------------------------ checkpoints
    def _load(self, folder: Path) -> None:
        acc = self.accelerator
        ck = load_checkpoint(folder, acc.process_index)
        state = ck["state"]
        check_same_classes(folder, state, self.cfg, self.info.class_names, "resume")  # not a raw size mismatch
        check_same_data(folder, state, self.cfg, "resume")  # kind, size, window: the inputs the run learnt from
        check_same_shape(folder, state.get("model_config"), self.model.config)
        if acc.is_main_process:
            note = process_count_note(folder, state, acc.num_processes, self.cfg.train.batch_size * self.cfg.train.grad_accum)
            if note:
                warnings.warn(note, stacklevel=2)
        inner = acc.unwrap_model(self.denoiser)
        inner.load_state_dict(ck["model"], strict=True)
        self.optimizer.optimizer.load_state_dict(ck["optimizer"])
        for group in self.optimizer.param_groups:  # the state brings its own; this invocation's settings apply (lr: per step)
            group.update(betas=tuple(self.cfg.optim.betas), weight_decay=self.cfg.optim.weight_decay)
        self.ema.load_state_tensors(ck["ema"], state["ema_updates"])
        self.step = int(state["step"])
        self.micro_batches = self.drawn_at_start = int(state.get("micro_batches") or self.step * self.cfg.train.grad_accum)
        self.data_start = resumed_position(state, len(self.train_set), acc.num_processes, self.cfg.train.batch_size)
        self.best = state.get("best", self.best)
        self.history = state.get("history", [])
        stale = best_record_after_crash(folder, state)  # a crash after saving best, before recording it here
        if stale is not None:
            self.best, self.history = stale
            if acc.is_main_process:
                update_checkpoint_state(folder, best=self.best, history=self.history[-200:])
        self.scale_factor = float(state["scale_factor"])
        given = self.cfg.model.scale_factor
        if given and acc.is_main_process and abs(float(given) - self.scale_factor) > 1e-9 * self.scale_factor:
            warnings.warn(f"model.scale_factor={given} is ignored: {folder} continues the run with the scale factor it "
                          f"was trained with, {self.scale_factor:.6g} (state.json), since a run's latent scale is fixed. "
                          "To train with another scale factor, start a new run folder (train.output_dir).", stacklevel=2)
        if state.get("autoencoder_sha256") not in (None, self.autoencoder_sha256):
            from .evaluate import autoencoder_mismatch_message

            raise ResumeError(autoencoder_mismatch_message(folder, self.cfg.model.autoencoder, state["autoencoder_sha256"]))
        self.model.set_scale_factor(self.scale_factor)
        scaler = getattr(acc, "scaler", None)
        if scaler is not None and state.get("grad_scaler"):
            scaler.load_state_dict(state["grad_scaler"])
        if ck["rng"] is not None:
            restore_rng(*ck["rng"])
        acc.print(f"resumed from {folder} at step {self.step}")
        self.branch_from: Optional[int] = self.step  # later step checkpoints of this folder are set aside at the first save

    def save(self, name: Optional[str] = None) -> Optional[Path]:
        """Write a checkpoint (all processes must call; rank 0 writes the shared files)."""
        acc = self.accelerator
        acc.wait_for_everyone()
        rank_rng = gather_rank_rng(acc, capture_rng())  # every rank's generators, written by rank 0 in one folder
        folder = self.out / "checkpoints" / (name or f"step-{self.step:08d}")
        if acc.is_main_process:
            inner = acc.unwrap_model(self.denoiser)
            scaler = getattr(acc, "scaler", None)
            state = {
                "step": self.step, "micro_batches": self.micro_batches, "data_position": list(self.data_position()),
                "ema_updates": self.ema.num_updates, "lr": lr_at(self.step, self.base_lr, self.cfg.optim.warmup_steps, self.cfg.optim.warmup_start_factor),
                "scale_factor": self.scale_factor, "best": self.best, "history": self.history[-200:],
                "grad_scaler": scaler.state_dict() if scaler is not None else None, "num_processes": acc.num_processes,
                "config": self.cfg.to_dict(), "model_config": self.model.config.to_dict(),
                "autoencoder_sha256": self.autoencoder_sha256, "class_names": list(self.info.class_names),
            }
            if name is None and getattr(self, "branch_from", None) is not None:  # first step save after a resume
                left = set_aside_left_branch(self.out, self.branch_from)
                if left:
                    acc.print(f"set aside {len(left)} later step checkpoint(s) of the branch this run left when it resumed "
                              f"from step {self.branch_from}, in {left[0].parent} (resume or delete them there).")
                self.branch_from = None
            save_checkpoint(folder, {k: v.float() for k, v in inner.state_dict().items()}, self.ema.state_tensors(),
                            self.optimizer.optimizer.state_dict(), state, rank_rng)
            if name is None:  # a step checkpoint: the newest of this branch (best is not one)
                prune_step_checkpoints(self.out, self.step, self.cfg.train.keep_checkpoints)
        acc.wait_for_everyone()
        return folder

    # ------------------------------------------------------------------ the step
    @torch.no_grad()
    def _latents(self, mask3: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        ae = self.model.autoencoder
        dist = ae.encode(mask3.to(self.accelerator.device)).latent_dist
        noise = torch.randn(dist.mean.shape, generator=gen, dtype=torch.float32).to(dist.mean.device)
        return (dist.mean + dist.std * noise).float()

    def _set_scale_factor(self, batch: Dict[str, torch.Tensor]) -> None:
        """s = 1 / std of the first batch's mask latents (averaged over processes)."""
        gen = torch.Generator().manual_seed(self.cfg.train.seed)
        z = self._latents(batch["mask"], gen)
        std = self.accelerator.reduce(z.flatten().std().reshape(1), reduction="mean")
        self.scale_factor = float(1.0 / std.item())
        self.model.set_scale_factor(self.scale_factor)
        self.accelerator.print(f"scale_factor = 1 / {1.0 / self.scale_factor:.4f} = {self.scale_factor:.5f}")

    def train_step(self, micro_batches, sync_losses: bool = True) -> Dict[str, Any]:
        """One optimizer step over ``grad_accum`` micro-batches; returns the mean loss terms.

        Args:
            micro_batches: ``grad_accum`` batches from :meth:`batches`.
            sync_losses: return the terms as Python floats (a host-device sync); False keeps
                them as 0-d device tensors, so that a GPU run is not synchronised every step.
        """
        acc, tc = self.accelerator, self.cfg.train
        lr = lr_at(self.step, self.base_lr, self.cfg.optim.warmup_steps, self.cfg.optim.warmup_start_factor)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        totals: Dict[str, float] = {}
        for micro, batch in enumerate(micro_batches):
            gen = step_generator(tc.seed, self.step, acc.process_index, micro)
            with acc.autocast():  # the frozen encoder may run in reduced precision: z0 is a noisy sample anyway
                z0 = self._latents(batch["mask"], gen) * self.scale_factor
            labels = batch["class_label"].to(acc.device) if self.model.config.is_multiclass else None
            sync = micro == len(micro_batches) - 1
            ctx = acc.no_sync(self.denoiser) if not sync and acc.num_processes > 1 else null_context()
            with ctx, acc.autocast():
                terms = sdseg_loss(self.denoiser, self.schedule, z0, batch["image"].to(acc.device), labels, gen,
                                   tc.lambda_latent, tc.high_t_fraction)
            acc.backward(terms["loss"] / len(micro_batches))
            for k, v in terms.items():  # kept on the device: no host sync per step
                totals[k] = totals.get(k, 0.0) + v.detach().float() / len(micro_batches)
        if self.cfg.optim.grad_clip:
            acc.clip_grad_norm_(self.denoiser.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(acc.unwrap_model(self.denoiser).unet)
        self.step += 1
        self.micro_batches += len(micro_batches)
        out = {k: float(v) for k, v in totals.items()} if sync_losses else totals
        out["lr"] = lr
        return out

    def batches(self):
        """Endless micro-batches from the current data-loader position."""
        acc, tc = self.accelerator, self.cfg.train
        sampler = EpochBatchSampler(len(self.dataset), tc.batch_size, tc.seed, acc.process_index, acc.num_processes,
                                    start_batch=self.micro_batches - self.drawn_at_start, start=self.data_start)
        # own generator: creating the loader must not consume the global RNG (dropout), or resume drifts
        loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, collate_fn=collate, num_workers=tc.num_workers,
                                             generator=torch.Generator().manual_seed(tc.seed))
        return iter(loader)

    def data_position(self):
        """``(epoch, samples of this process's share drawn in it)``: where the data order goes on after a resume."""
        acc = self.accelerator
        return advance_position(self.data_start, self.micro_batches - self.drawn_at_start,
                                len(self.train_set) // acc.num_processes, self.cfg.train.batch_size)

    # ------------------------------------------------------------------ the loop
    def run(self, max_steps: Optional[int] = None) -> Dict[str, Any]:
        """Train until ``max_steps`` (default ``train.max_steps``); validate, log, checkpoint."""
        from tqdm import tqdm

        acc, tc = self.accelerator, self.cfg.train
        max_steps = int(max_steps if max_steps is not None else tc.max_steps)
        writer = None
        if acc.is_main_process:
            writer = open_summary_writer(self.out / "tb")
            changed = record_resolved_config(self.out, self.cfg.to_dict(), self.step)
            if changed:
                acc.print(f"resumed at step {self.step} with settings that differ from the run's start "
                          f"(config.resolved.json): {', '.join(changed)}; this invocation's settings: "
                          f"{resumed_config_path(self.out, self.step).name}")
        it = self.batches()
        if self.scale_factor is None and self.cfg.model.scale_factor:
            self.scale_factor = float(self.cfg.model.scale_factor)
            self.model.set_scale_factor(self.scale_factor)
            self.accelerator.print(f"scale_factor = {self.scale_factor:.5f} (model.scale_factor)")
        if self.scale_factor is None:
            first = next(self.batches())
            self._set_scale_factor(first)
        started = time.time()
        if self.resumed_from is not None and validation_owed(self, max_steps):  # a crash cut this step's validation short
            validate_and_select(self, self.resumed_from, writer, started)
        bar = tqdm(total=max_steps, initial=self.step, desc="stage 2", disable=not acc.is_local_main_process, dynamic_ncols=True)
        t0, last = time.time(), {}
        out_of_time = False
        vote = StopVote(acc)
        guard = DivergenceGuard(self.step)
        with DeferredInterrupt(acc.print if acc.is_main_process else None, "this step") as interrupt:
            while self.step < max_steps and not out_of_time:
                micro = [next(it) for _ in range(tc.grad_accum)]
                logging_step = (self.step + 1) % tc.log_every == 0 or self.step + 1 == max_steps
                last = self.train_step(micro, sync_losses=logging_step)
                bar.update(1)
                over = budget_cuts_short(self.step, max_steps, time.time() - started, tc.time_budget_s)
                decision = vote.cast(interrupt.requested, over)  # every process stops after the same step
                out_of_time = decision.out_of_time
                final = self.step == max_steps or out_of_time
                if final and not logging_step:
                    last = {k: float(v) for k, v in last.items()}
                saving = self.step % tc.ckpt_every == 0 or final
                validating = self.val_set is not None and (self.step % tc.val_every == 0 or final)
                if self.step % tc.log_every == 0 or saving or validating:  # never save, select or go on with NaN weights
                    self._check_finite(guard, bar, writer)
                if self.step % tc.log_every == 0 or final:
                    bar.set_postfix(loss=f"{last['loss']:.4f}", lr=f"{last['lr']:.2e}")
                    if writer is not None:
                        for k, v in last.items():
                            writer.add_scalar(f"train/{k}", v, self.step)
                        writer.add_scalar("train/seconds_per_step", (time.time() - t0) / max(1, tc.log_every), self.step)
                    t0 = time.time()
                folder = self.save() if saving else None  # before validation: a crash there keeps the steps
                if validating:
                    validate_and_select(self, folder, writer, started)
                stop = decision.interrupted or (not vote.distributed and interrupt.requested)  # one process: also a Ctrl-C while validating
                if not final and stop:  # Ctrl-C or SIGTERM: a resumable checkpoint of this step, then stop
                    if folder is None:
                        self._check_finite(guard, bar, writer)
                    self._stop_interrupted(folder, bar, writer)
        bar.close()
        if writer is not None:
            writer.close()
        # a vote lagging one step (DDP) can still say "out of time" at max_steps: the step limit stopped that run
        return {"step": self.step, "best": self.best, "last_loss": last, "scale_factor": self.scale_factor,
                "stopped_by_time_budget": out_of_time and self.step < max_steps}

    def _check_finite(self, guard: DivergenceGuard, bar, writer) -> None:
        """Stop (closing the bar and the logs) with :class:`~.errors.TrainingDiverged` when a weight is NaN or infinite.

        DDP keeps the weights equal on every process, so all processes reach the same verdict.
        """
        try:
            guard.check(self.accelerator.unwrap_model(self.denoiser), self.step, stage2_kept(latest_checkpoint(self.out)))
        except Exception:
            bar.close()
            if writer is not None:
                writer.close()
            raise

    def _stop_interrupted(self, folder: Optional[Path], bar, writer) -> None:
        """Save this step (unless just saved; never as ``best``), say how to resume, raise :class:`TrainingInterrupted`."""
        acc = self.accelerator
        folder = folder or self.save()
        bar.close()
        if writer is not None:
            writer.close()
        acc.print(f"interrupted: step {self.step} saved in {folder}. To resume, run the same command again without "
                  "--resume none/--overwrite (--resume auto, the default, continues from the latest checkpoint).")
        raise TrainingInterrupted(self.step, folder, report=acc.is_main_process)
