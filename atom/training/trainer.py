"""The amortized two-stage training loop: B prompts x V views per step, SDS from a frozen diffusion model.

The trainer owns all state (generator, NeuS variance, optimizer, RNG) and the run directory; the rooms it
calls are stateless functions or frozen modules. One ``torch.Generator`` drives every random choice of the
loop (prompts, cameras, shading) and the global torch RNG drives SDS noise; both are checkpointed, so a
killed and resumed run reproduces the uninterrupted one.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from atom.build import build_generator, build_guidance, build_prompt_set, build_text_encoder, resolve_device
from atom.geometry import tetrahedral_grid
from atom.prompts import PromptSet, ViewDependentEmbeddings
from atom.render import NeuSRenderer, make_rasterizer, random_light_directions, sample_cameras
from atom.text import EmbeddingCache, TextEmbeddings
from atom.training import distributed as dist_utils
from atom.training.checkpoint import (
    CheckpointError,
    TrainingState,
    list_checkpoints,
    load_training_state,
    resolve_checkpoint,
    save_checkpoint,
)
from atom.training.loggers import NullLogger, RunLogger, build_logger
from atom.training.optim import build_optimizer, build_scheduler
from atom.training.previews import write_previews
from atom.training.stages import SHADING_MODES, Views, render_stage1, render_stage2

logger = logging.getLogger(__name__)

#: parameter groups that train in each stage: the deformation head only acts on the DMTet mesh (stage 2),
#: the NeuS sharpness only in volume rendering (stage 1)
STAGE_GROUPS = {1: {"front_end", "sdf", "color", "variance"}, 2: {"front_end", "sdf", "color", "deformation"}}


@dataclass
class StepResult:
    loss: float
    metrics: dict[str, float]
    skipped: bool


class Trainer:
    """Builds everything from a resolved ``TrainConfig`` and trains into ``run_dir``."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.device = resolve_device(cfg.trainer.device)
        self.ctx = dist_utils.init_distributed(self.device)
        torch.manual_seed(cfg.seed)
        self.rng = torch.Generator().manual_seed(cfg.seed + 7919 * self.ctx.rank)

        self.prompts: PromptSet = build_prompt_set(cfg.prompts)
        self.train_indices = dist_utils.shard(list(self.prompts.train), self.ctx)
        self._build_embeddings()
        self.generator = build_generator(cfg.model).to(self.device)
        self.neus = NeuSRenderer(
            num_samples=cfg.stage1.num_samples, num_importance=cfg.stage1.num_importance,
            bound=cfg.model.bound, init_inv_std=cfg.stage1.init_inv_std).to(self.device)
        self.guidance = build_guidance(cfg.guidance, self.device)
        if self.guidance.embedding_dim != self.view_embeddings.dim:
            raise ValueError(
                f"the guidance model expects text embeddings of width {self.guidance.embedding_dim} but its text "
                f"encoder gives {self.view_embeddings.dim}: set guidance.text to the model's own encoder")
        self.rasterizer = make_rasterizer(cfg.render.rasterizer.value)
        self.grid = tetrahedral_grid(cfg.stage2.grid_resolution, bound=cfg.model.bound, device=self.device)

        groups = self.generator.parameter_groups()
        groups["variance"] = list(self.neus.parameters())
        self.param_groups = groups
        self.optimizer = build_optimizer(groups, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, cfg.trainer.max_steps)
        dist_utils.broadcast_parameters([self.generator, self.neus], self.ctx)

        self.step = 0
        self.counters = {"skipped_nonfinite": 0, "empty_meshes": 0}
        self._maybe_resume()
        self.logger: RunLogger = (
            build_logger(cfg.logger, self.run_dir, OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
            if self.ctx.is_main else NullLogger())
        self._stop_signal: int | None = None
        logger.info(
            "generator %.2fM parameters; %d prompts (%d train on this rank, %d held out); guidance %s",
            sum(p.numel() for p in self.generator.parameters()) / 1e6, len(self.prompts.prompts),
            len(self.train_indices), len(self.prompts.test), cfg.guidance.path)

    # ----------------------------------------------------------------------------------------------- setup
    def _build_embeddings(self) -> None:
        """Encode every prompt once (through the on-disk cache when configured), then drop the encoders."""
        cfg = self.cfg
        cache = EmbeddingCache(cfg.embedding_cache) if cfg.embedding_cache else None
        encoder = build_text_encoder(cfg.text, self.device)
        if encoder.dim != cfg.model.text_dim:
            raise ValueError(
                f"text encoder {encoder.identity} gives {encoder.dim}-d tokens but model.text_dim is "
                f"{cfg.model.text_dim}: set model.text_dim={encoder.dim}")
        prompts = list(self.prompts.prompts)
        embeddings = cache.get_or_encode(encoder, prompts) if cache else encoder.encode(prompts)
        self.text: TextEmbeddings = embeddings.to(self.device)
        guidance_encoder = encoder if cfg.guidance.text is None else build_text_encoder(cfg.guidance.text, self.device)
        self.view_embeddings = ViewDependentEmbeddings.build(
            guidance_encoder, prompts, cache=cache, negative_prompt=cfg.guidance.negative_prompt).to(self.device)
        del encoder, guidance_encoder  # training never holds the (possibly large) encoders

    def _maybe_resume(self) -> None:
        resume = str(self.cfg.trainer.resume)
        if resume == "none":
            return
        if resume == "auto":
            found = list_checkpoints(self.run_dir)
            if not found:
                return
            checkpoint = found[-1]
        else:
            checkpoint = resolve_checkpoint(resume)
        state, extra = load_training_state(checkpoint)
        from safetensors.torch import load_file

        try:
            self.generator.load_state_dict(load_file(str(checkpoint / "model.safetensors")))
            self.neus.load_state_dict(extra)
            self.optimizer.load_state_dict(state.optimizer)
            self.scheduler.load_state_dict(state.scheduler)
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
        if not self.ctx.is_main:
            return None
        rng = {"loop": self.rng.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state()
        state = TrainingState(self.step, self.optimizer.state_dict(), self.scheduler.state_dict(), rng,
                              dict(self.counters))
        return save_checkpoint(self.run_dir, self.step, self.generator, self.cfg, state,
                               extra_tensors=dict(self.neus.state_dict()), keep_last=self.cfg.trainer.keep_last)

    # ------------------------------------------------------------------------------------------------ step
    def stage(self, step: int) -> int:
        return 1 if step < self.cfg.stage1.steps else 2

    def sample_views(self, batch: int) -> Views:
        r = self.cfg.render
        n = batch * r.views_per_prompt
        cameras = sample_cameras(n, tuple(r.elevation_range), tuple(r.azimuth_range), tuple(r.distance_range),
                                 tuple(r.fov_range), generator=self.rng).to(self.device)
        probs = torch.tensor(list(r.shading_probs), dtype=torch.float)
        shading = [SHADING_MODES[i] for i in torch.multinomial(probs, n, replacement=True, generator=self.rng)]
        lights = random_light_directions(cameras.position().cpu(), generator=self.rng).to(self.device)
        return Views(cameras, shading, lights, torch.tensor(list(r.background), device=self.device), r.ambient)

    def train_step(self) -> StepResult:
        cfg = self.cfg
        stage = self.stage(self.step)
        self.generator.train()
        active = STAGE_GROUPS[stage]
        for name, params in self.param_groups.items():
            for p in params:
                p.requires_grad_(name in active)
        picks = torch.randint(len(self.train_indices), (cfg.trainer.prompts_per_step,), generator=self.rng)
        prompt_ids = torch.tensor(self.train_indices)[picks].to(self.device)
        views = self.sample_views(len(prompt_ids))
        text = self.text[prompt_ids]
        amp = cfg.trainer.precision in ("bf16", "fp16") and self.device.type == "cuda"
        dtype = torch.bfloat16 if cfg.trainer.precision == "bf16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype, enabled=amp):
            triplanes = self.generator(text.tokens, text.mask)
            if stage == 1:
                out = render_stage1(self.generator, triplanes, self.neus, views, cfg.stage1.resolution)
                regularisers = {"eikonal": cfg.stage1.eikonal_weight}
            else:
                out = render_stage2(self.generator, triplanes, self.grid, self.rasterizer, views,
                                    cfg.stage2.resolution)
                regularisers = {"normal_consistency": cfg.stage2.normal_consistency_weight,
                                "laplacian": cfg.stage2.laplacian_weight,
                                "empty_recovery": cfg.stage2.empty_recovery_weight}
            view_ids = prompt_ids.repeat_interleave(cfg.render.views_per_prompt)
            cond, uncond = self.view_embeddings.lookup(view_ids, views.cameras.view_labels())
            sds = self.guidance(out.images.float(), cond, uncond, progress=self.step / cfg.trainer.max_steps)
        loss = sds.loss + sum(w * out.losses[k] for k, w in regularisers.items())
        self.counters["empty_meshes"] += len(out.empty_prompts)

        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss))
        if finite:
            loss.backward()
        trainable = [p for ps in self.param_groups.values() for p in ps if p.requires_grad]
        dist_utils.average_gradients(trainable, self.ctx)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            trainable, cfg.optim.grad_clip if cfg.optim.grad_clip else float("inf"))
        finite = dist_utils.all_ranks_agree(finite and bool(torch.isfinite(grad_norm)), self.ctx)
        if finite:
            self.optimizer.step()
        else:
            self.counters["skipped_nonfinite"] += 1
            self.optimizer.zero_grad(set_to_none=True)
            logger.warning("step %d: non-finite loss or gradient, step skipped (%d so far)", self.step,
                           self.counters["skipped_nonfinite"])
        self.scheduler.step()
        metrics = {
            "loss/total": float(loss.detach()), "loss/sds": float(sds.loss.detach()),
            **{f"loss/{k}": float(v.detach()) for k, v in out.losses.items()},
            "sds/timestep": float(sds.timesteps.float().mean()), "sds/grad_norm": float(sds.grad_norm),
            "train/grad_norm": float(grad_norm), "train/stage": float(stage),
            "train/empty_meshes": float(len(out.empty_prompts)),
            "train/inv_std": float(self.neus.inv_std().detach()) if hasattr(self.neus, "inv_std") else 0.0,
            **{f"lr/{g['name']}": g["lr"] for g in self.optimizer.param_groups},
        }
        return StepResult(float(loss.detach()), metrics, skipped=not finite)

    # ------------------------------------------------------------------------------------------------ loop
    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002 (signal handler signature)
        self._stop_signal = signum
        logger.warning("received %s: saving a checkpoint and stopping after this step", signal.Signals(signum).name)

    def fit(self) -> dict:
        cfg = self.cfg.trainer
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
                bar.set_postfix(stage=self.stage(self.step - 1), loss=f"{last.loss:.4g}")
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    elapsed = time.perf_counter() - started
                    last.metrics["train/steps_per_s"] = (self.step - start_step) / max(elapsed, 1e-9)
                    self.logger.log_scalars(last.metrics, self.step)
                if self.ctx.is_main and cfg.image_every > 0 and self.step % cfg.image_every == 0:
                    self.previews()
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
            summary["replica_max_abs_diff"] = dist_utils.replica_max_difference(self.generator, self.ctx)
        if not interrupted and self.ctx.is_main:
            summary.update(self.finish())
        self.logger.finish()
        dist_utils.cleanup(self.ctx)
        return summary

    def previews(self, export_meshes: bool = False) -> dict:
        """Render grids (seen and held-out prompts) and, optionally, GLB meshes; log them."""
        return write_previews(self, export_meshes=export_meshes)

    def finish(self) -> dict:
        """End of training: previews and meshes for every prompt, then the toy-world evaluation if it applies."""
        return self.previews(export_meshes=self.cfg.trainer.export_at_end)
