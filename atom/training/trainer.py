"""The generic training loop: it runs any ``TrainingSystem`` (``atom.training.system``).

The trainer owns the loop's state and nothing of the model's: optimiser (AdamW, one param group per named
group of the system) and warm-up + cosine schedule, mixed precision (bf16 autocast; fp16 autocast with torch's
``GradScaler``), gradient clipping, skipping of non-finite steps, checkpoints (atomic, with a checksum
manifest) and verified resume, SIGINT / SIGTERM (save, then stop), logging and callbacks. One
``torch.Generator`` (the loop RNG) drives every random choice of the batches and the global torch RNG drives
the system's own noise (e.g. SDS); both are checkpointed, so a killed and resumed run reproduces the
uninterrupted one.

Multi-process training (``torchrun``) wraps the system in torch's ``DistributedDataParallel``: the system's
``forward`` is the whole training step, so DDP follows every parameter it uses and averages the gradients.
DDP registers the parameters that require gradients when it is built, so the trainer builds it again at each
phase change (each phase trains its own set of groups); ``find_unused_parameters`` covers steps in which a
rank does not use a trainable part (e.g. the color head when every mesh of its batch vanished).
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from atom.config import LoggerConfig, OptimConfig, Precision, TrainerConfig
from atom.model import CheckpointError, CorruptCheckpointError, list_checkpoints, resolve_checkpoint, verify_checkpoint
from atom.training import distributed as dist_utils
from atom.training.callbacks import Callback, CallbackContext
from atom.training.checkpoint import TrainingState, load_training_state, save_checkpoint
from atom.training.loggers import NullLogger, RunLogger, build_logger
from atom.training.optim import build_optimizer, build_scheduler
from atom.training.system import StepOutput, TrainingSystem

logger = logging.getLogger(__name__)

#: offset between the ranks' loop-RNG seeds (each rank draws its own batches)
RANK_SEED_STRIDE = 7919


@dataclass
class StepResult:
    loss: float
    metrics: dict[str, float]
    skipped: bool


def newest_valid_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint of ``run_dir`` that passes verification against its manifest (``trainer.resume=auto``).

    A newer checkpoint that is corrupt (a truncated file, a flipped byte) or incomplete (no manifest) is
    skipped with a warning naming it and the failed check, and left on disk. None when the run has no
    checkpoint. When every checkpoint is rejected, ``CheckpointError`` lists them all: starting afresh would
    silently throw the run away (and the new run's pruning would delete the rejected checkpoints), so the
    user decides (an explicit ``trainer.resume=<path>``, or a new ``run_dir``).
    """
    found = list_checkpoints(run_dir)
    rejected: list[CorruptCheckpointError] = []
    for checkpoint in reversed(found):
        try:
            verify_checkpoint(checkpoint, require_manifest=True)
        except CorruptCheckpointError as err:
            logger.warning("trainer.resume=auto: skipping %s: %s check failed for %s", checkpoint.name, err.check,
                           err.path)
            rejected.append(err)
            continue
        if rejected:
            logger.warning("trainer.resume=auto: resuming from %s, the newest valid checkpoint (skipped: %s)",
                           checkpoint, ", ".join(err.checkpoint.name for err in rejected))
        return checkpoint
    if rejected:
        reasons = "\n".join(f"  {err}" for err in rejected)
        raise CheckpointError(
            f"trainer.resume=auto: every checkpoint in {found[-1].parent} is corrupt or incomplete, so "
            f"none can be resumed and nothing was deleted:\n{reasons}\nResume one explicitly with "
            "trainer.resume=<checkpoint dir> (one without a manifest, written by an older atom, is accepted "
            "there) or start a new run in another run_dir.")
    return None


class Trainer:
    """Trains ``system`` into ``run_dir``.

    Args:
        system: the training system, already on ``device``.
        run_dir: the run directory (checkpoints, logs, callbacks' files).
        trainer: loop settings (steps, precision, checkpoint and log intervals, resume).
        optim: optimiser and schedule settings (``lr_<group>`` for every group of the system).
        logger_config: where scalars, images and tables go (rank 0 only).
        run_config: the run's whole config (a dataclass instance), saved with every checkpoint.
        seed: seeds the loop RNG (plus ``RANK_SEED_STRIDE * rank``).
        device: where the system lives (AMP applies on CUDA only).
        ctx: the process group (``dist_utils.init_distributed``), single-process by default.
        callbacks: run after steps and at the end (main process only); the system's own come first.
    """

    def __init__(self, system: TrainingSystem, run_dir: str | Path, trainer: TrainerConfig, optim: OptimConfig,
                 logger_config: LoggerConfig, run_config: Any, seed: int, device: torch.device,
                 ctx: dist_utils.DistributedContext | None = None, callbacks: list[Callback] | None = None) -> None:
        self.system = system
        self.config = trainer
        self.run_config = run_config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.device = device
        self.ctx = ctx or dist_utils.DistributedContext()
        self.rng = torch.Generator().manual_seed(seed + RANK_SEED_STRIDE * self.ctx.rank)
        self.callbacks = [*system.callbacks(), *(callbacks or [])]

        self.param_groups = system.parameter_groups()
        self.optimizer = build_optimizer(self.param_groups, optim)
        self.scheduler = build_scheduler(self.optimizer, optim, trainer.max_steps)
        self.grad_clip = optim.grad_clip
        self.amp = trainer.precision is not Precision.fp32 and device.type == "cuda"
        if trainer.precision is not Precision.fp32 and not self.amp:
            logger.warning("trainer.precision=%s needs CUDA; training in fp32 on %s", trainer.precision.name,
                           device)
        self.amp_dtype = torch.bfloat16 if trainer.precision is Precision.bf16 else torch.float16
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp and trainer.precision is Precision.fp16)
        self._ddp: DistributedDataParallel | None = None
        self._ddp_phase: int | None = None

        self.step = 0
        self.counters: dict[str, int] = {"skipped_nonfinite": 0}
        self._maybe_resume()
        run_values = OmegaConf.to_container(OmegaConf.structured(run_config), resolve=True, enum_to_str=True)
        self.logger: RunLogger = (
            build_logger(logger_config, self.run_dir, run_values) if self.ctx.is_main else NullLogger())
        self._stop_signal: int | None = None

    # --------------------------------------------------------------------------------------------- resume
    def _maybe_resume(self) -> None:
        resume = str(self.config.resume)
        if resume == "none":
            return
        if resume == "auto":
            checkpoint = newest_valid_checkpoint(self.run_dir)
            if checkpoint is None:
                return
        else:  # an explicit checkpoint: one that fails verification is an error naming the file and the check
            checkpoint = resolve_checkpoint(resume)
        state, extra = load_training_state(checkpoint)
        try:
            self.system.pretrained_model().load_state_dict(load_file(str(checkpoint / "model.safetensors")))
            self.system.load_extra_state(extra)
            self.optimizer.load_state_dict(state.optimizer)
            self.scheduler.load_state_dict(state.scheduler)
            if state.scaler:
                self.scaler.load_state_dict(state.scaler)
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(
                f"checkpoint {str(checkpoint)!r} does not match this run's model/optimizer config: {err}") from err
        self.rng.set_state(state.rng["loop"])
        torch.set_rng_state(state.rng["torch"])
        if "cuda" in state.rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(state.rng["cuda"])
        self.step = state.step
        self.counters.update(state.counters)
        logger.info("resumed from %s at step %d", checkpoint, self.step)

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (main process only)."""
        if not self.ctx.is_main:
            return None
        rng = {"loop": self.rng.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state()
        scaler = self.scaler.state_dict() if self.scaler.is_enabled() else {}
        state = TrainingState(self.step, self.optimizer.state_dict(), self.scheduler.state_dict(), rng,
                              dict(self.counters), scaler)
        return save_checkpoint(self.run_dir, self.step, self.system.pretrained_model(), self.run_config, state,
                               extra_tensors=self.system.extra_state(), keep_last=self.config.keep_last)

    # ----------------------------------------------------------------------------------------------- step
    def _step_module(self, phase: int) -> torch.nn.Module:
        """The system, or its DDP wrapper (rebuilt when the phase, and so the trainable set, changes)."""
        self.system.set_phase(phase)
        if not self.ctx.enabled:
            return self.system
        if self._ddp is None or self._ddp_phase != phase:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(self.system, device_ids=device_ids, find_unused_parameters=True,
                                                broadcast_buffers=False)
            self._ddp_phase = phase
        return self._ddp

    def train_step(self) -> StepResult:
        """One optimiser step at ``self.step`` (the caller advances ``self.step``)."""
        phase = self.system.phase(self.step)
        self.system.train()
        module = self._step_module(phase)
        batch = self.system.sample_batch(self.step, self.rng)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            out: StepOutput = module(batch)
        loss = out.loss
        for key, count in out.counts.items():
            self.counters[key] = self.counters.get(key, 0) + count

        self.optimizer.zero_grad(set_to_none=True)
        # every rank runs backward (DDP's all-reduce is collective); a non-finite step is skipped afterwards
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        trainable = [p for ps in self.param_groups.values() for p in ps if p.requires_grad]
        grad_norm = torch.nn.utils.clip_grad_norm_(
            trainable, self.grad_clip if self.grad_clip else float("inf"))
        finite = dist_utils.all_ranks_agree(bool(torch.isfinite(loss)) and bool(torch.isfinite(grad_norm)),
                                            self.ctx)
        if finite:
            self.scaler.step(self.optimizer)
        else:
            self.counters["skipped_nonfinite"] += 1
            self.optimizer.zero_grad(set_to_none=True)
            logger.warning("step %d: non-finite loss or gradient, step skipped (%d so far)", self.step,
                           self.counters["skipped_nonfinite"])
        self.scaler.update()
        self.scheduler.step()
        metrics = {
            "loss/total": float(loss.detach()), **out.scalars, "train/grad_norm": float(grad_norm),
            **{f"lr/{g['name']}": g["lr"] for g in self.optimizer.param_groups},
        }
        return StepResult(float(loss.detach()), metrics, skipped=not finite)

    # ----------------------------------------------------------------------------------------------- loop
    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002 (signal handler signature)
        self._stop_signal = signum
        logger.warning("received %s: saving a checkpoint and stopping after this step", signal.Signals(signum).name)

    def _context(self) -> CallbackContext:
        return CallbackContext(self.step, self.run_dir, self.logger)

    def fit(self) -> dict:
        """Train up to ``trainer.max_steps`` (or a signal), save, run the end-of-training callbacks; returns
        the run summary."""
        cfg = self.config
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        start_step, started = self.step, time.perf_counter()
        bar = tqdm(total=cfg.max_steps, initial=self.step, disable=not (cfg.progress and self.ctx.is_main),
                   desc="train", dynamic_ncols=True)
        last: StepResult | None = None
        try:
            while self.step < cfg.max_steps and self._stop_signal is None:
                last = self.train_step()
                self.step += 1
                bar.update(1)
                bar.set_postfix(phase=self.system.phase(self.step - 1), loss=f"{last.loss:.4g}")
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    elapsed = time.perf_counter() - started
                    last.metrics["train/steps_per_s"] = (self.step - start_step) / max(elapsed, 1e-9)
                    self.logger.log_scalars(last.metrics, self.step)
                if self.ctx.is_main:
                    for callback in self.callbacks:
                        callback.on_step_end(self._context())
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
        finally:
            bar.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
        interrupted = self._stop_signal is not None
        if self.ctx.is_main and (not list_checkpoints(self.run_dir)
                                 or list_checkpoints(self.run_dir)[-1].name != f"step_{self.step:07d}"):
            self.save()
        summary = {
            "run_dir": str(self.run_dir), "steps": self.step, "interrupted": interrupted,
            "seconds": round(time.perf_counter() - started, 1),
            "final_loss": None if last is None else last.loss,
            **self.counters,
        }
        if self.ctx.enabled:
            summary["replica_max_abs_diff"] = dist_utils.replica_max_difference(self.system, self.ctx)
        if not interrupted and self.ctx.is_main:
            for callback in self.callbacks:
                summary.update(callback.on_train_end(self._context()))
        self.logger.finish()
        self._ddp = None  # release DDP's reducer (it holds the process group) before leaving the group
        dist_utils.cleanup(self.ctx)
        return summary
