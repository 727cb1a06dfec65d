"""``python -m atom.toyworld.train_multiview stage=views|ccms``: train one multi-view diffusion stage on the toy world.

Steps: render (or read from the cache) a pool of training examples (:mod:`atom.toyworld.multiview_data`: a
picture of a posed toy object, its six views and CCMs), then train :class:`~atom.model.MultiViewDiffusionModel`
on it with the toy prior's loss (:func:`atom.toyworld.train_prior.diffusion_loss`: v or epsilon MSE, optional
Min-SNR weights), AdamW, a cosine learning rate, an EMA of the weights (diffusers' ``EMAModel``, the saved
weights), and the condition replaced by the null condition with probability ``cond_drop_prob`` (classifier-free
guidance). Stage "views" is conditioned on the picture, stage "ccms" on the TRUE six views (as CRM trains its
second stage). Every ``sample_every`` steps a grid of held-out samples goes to ``run_dir/samples/``, every
``checkpoint_every`` steps an atomic checkpoint (:func:`atom.training.checkpoint.save_checkpoint`) to
``run_dir/checkpoints/``, from which a rerun with the same ``run_dir`` resumes. At the end the EMA weights are
saved to ``output_dir`` (``save_pretrained``, float16 tensors by default), loaded back, scored on the held-out
objects (:mod:`atom.toyworld.multiview_check`) and described in a model card (``README.md``) beside
``samples.png`` (picture | generated six | true six, one held-out object per row).

Config: ``atom/conf/multiview/train_multiview.yaml`` merged into :class:`TrainMultiViewConfig`; override on the
command line, e.g. ``python -m atom.toyworld.train_multiview stage=ccms train.steps=200 output_dir=/tmp/ccms``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import hydra
import torch
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm.auto import tqdm

from atom.config import CONF_DIR, register_configs
from atom.model.checkpoints import list_checkpoints
from atom.model.multiview_diffusion import STAGES, MultiViewDiffusionModel
from atom.render import make_rasterizer
from atom.render.images import image_grid
from atom.toyworld.multiview_check import comparison_grid, generate, score_images, stage_condition, stage_truth
from atom.toyworld.multiview_data import MultiViewExamples, held_out_examples, sample_training_examples
from atom.toyworld.train_prior import PredictionType, PriorTrainConfig, diffusion_loss, machine_description
from atom.training.checkpoint import TrainingState, load_training_state, save_checkpoint

logger = logging.getLogger("atom.toyworld.train_multiview")

CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
SUMMARY_FILE = "summary.json"


@dataclass
class MultiViewDataConfig:
    """The training pool (:func:`atom.toyworld.multiview_data.sample_training_examples`), cached on disk."""

    input_size: int = 64
    tile_size: int = 32
    mesh_resolution: int = 32
    supersample: int = 2
    pool_size: int = 4096
    cache_dir: Optional[str] = "~/.cache/atom/toy_multiview"  # noqa: UP045 (OmegaConf needs typing.Optional)


@dataclass
class MultiViewNetConfig:
    """:class:`~atom.model.multiview_diffusion.MultiViewDiffusionConfig` fields (the stage and sizes come from
    ``stage`` and ``data``)."""

    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 96])
    down_block_types: list[str] = field(default_factory=lambda: ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"])
    up_block_types: list[str] = field(default_factory=lambda: ["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"])
    layers_per_block: int = 1
    norm_num_groups: int = 16
    attention_heads: int = 4
    encoder_channels: list[int] = field(default_factory=lambda: [32, 64, 64])
    embedding_dim: int = 64
    prediction_type: PredictionType = PredictionType.v_prediction
    weights_dtype: str = "float16"


@dataclass
class MultiViewTrainConfig(PriorTrainConfig):
    """The toy prior's optimisation settings (same recipe and meaning), with the multi-view stages' defaults
    and periodic previews and checkpoints."""

    steps: int = 1000
    batch_size: int = 8
    cond_drop_prob: float = 0.1
    max_minutes: Optional[float] = 52.0  # noqa: UP045
    log_every: int = 25
    sample_every: int = 250
    checkpoint_every: int = 250


@dataclass
class MultiViewSampleConfig:
    """How the saved model samples (its config's defaults) and is checked."""

    num_inference_steps: int = 20
    guidance_scale: float = 1.5
    seed: int = 0
    preview_objects: int = 4
    preview_steps: int = 25


@dataclass
class TrainMultiViewConfig:
    stage: str = "views"  # "views" | "ccms" (a string: ${stage} names the output folders)
    seed: int = 0
    output_dir: str = "atom/weights/toy_mv_views"
    run_dir: str = "outputs/train_multiview/views"
    resume: bool = True
    threads: int = 1
    data: MultiViewDataConfig = field(default_factory=MultiViewDataConfig)
    model: MultiViewNetConfig = field(default_factory=MultiViewNetConfig)
    train: MultiViewTrainConfig = field(default_factory=MultiViewTrainConfig)
    sample: MultiViewSampleConfig = field(default_factory=MultiViewSampleConfig)


register_configs()  # the ${atom_asset:...} resolver
ConfigStore.instance().store(name="train_multiview_schema", node=TrainMultiViewConfig)


# ------------------------------------------------------------------------------------------------- data
def training_pool(cfg: TrainMultiViewConfig | DictConfig) -> tuple[dict[str, Tensor], bool]:
    """The training examples ``{"inputs", "views", "ccms", "elevations"}`` (module docstring), rendered from
    ``cfg.seed`` or read from ``data.cache_dir`` (written atomically: a killed run leaves no half file).
    Returns the tensors and whether they came from the cache."""
    data = cfg.data
    name = (f"pool_n{data.pool_size}_s{data.input_size}_t{data.tile_size}_m{data.mesh_resolution}"
            f"_x{data.supersample}_seed{cfg.seed}.safetensors")
    cache = Path(data.cache_dir).expanduser() / name if data.cache_dir else None
    if cache is not None and cache.is_file():
        return load_file(cache), True
    generator = torch.Generator().manual_seed(cfg.seed)
    examples = sample_training_examples(data.pool_size, generator, data.input_size, data.tile_size,
                                        make_rasterizer("torch"), data.mesh_resolution, data.supersample)
    pool = {"inputs": examples.inputs, "views": examples.views, "ccms": examples.ccms,
            "elevations": examples.elevations}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        save_file({k: v.contiguous() for k, v in pool.items()}, partial)
        os.replace(partial, cache)
    return pool, False


def stage_tensors(stage: str, pool: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """(condition, target) of a stage: (pictures, views) or (true views, CCMs)."""
    return (pool["inputs"], pool["views"]) if stage == "views" else (pool["views"], pool["ccms"])


# ------------------------------------------------------------------------------------------------ model
def build_model(cfg: TrainMultiViewConfig | DictConfig) -> MultiViewDiffusionModel:
    """A fresh stage from the config; float32 storage while training (exact checkpoints)."""
    net = OmegaConf.to_container(OmegaConf.create(cfg.model), resolve=True, enum_to_str=True)
    net["weights_dtype"] = "float32"
    return MultiViewDiffusionModel(stage=cfg.stage, tile_size=cfg.data.tile_size, input_size=cfg.data.input_size,
                                   num_inference_steps=cfg.sample.num_inference_steps,
                                   guidance_scale=cfg.sample.guidance_scale, **net)


class _AsUNet:
    """The model behind a diffusers UNet's call, ``unet(noisy, t, encoder_hidden_states=...).sample``, the form
    :func:`~atom.toyworld.train_prior.diffusion_loss` calls; the prepared condition travels as the "states"."""

    def __init__(self, model: MultiViewDiffusionModel) -> None:
        self.model = model

    def __call__(self, noisy: Tensor, timesteps: Tensor, encoder_hidden_states: Any,
                 class_labels: Tensor | None = None) -> SimpleNamespace:
        if class_labels is not None:
            raise ValueError("the multi-view diffusion model takes no camera class labels")
        return SimpleNamespace(sample=self.model(noisy, timesteps, encoder_hidden_states))


@torch.no_grad()
def preview(model: MultiViewDiffusionModel, ema: EMAModel, examples: MultiViewExamples, steps: int,
            guidance_scale: float, seed: int, path: Path) -> float:
    """Sample ``examples`` with the EMA weights, write the comparison grid to ``path``; median PSNR (dB)."""
    ema.store(model.parameters())
    ema.copy_to(model.parameters())
    model.eval()
    generated = generate(model, stage_condition(model, examples), seed, num_inference_steps=steps,
                         guidance_scale=guidance_scale)
    ema.restore(model.parameters())
    model.train()
    truth = stage_truth(model, examples)
    tiles, rows = comparison_grid(examples.inputs, generated, truth)
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(tiles, rows).save(path)
    return float(score_images(generated, truth).psnr.median())


# --------------------------------------------------------------------------------------------- training
def _resume(cfg, model, optimizer, lr_schedule, ema, generator) -> int:
    """Load the newest checkpoint of ``cfg.run_dir`` into the training objects; returns its step (0: none)."""
    checkpoints = list_checkpoints(cfg.run_dir) if cfg.resume else []
    if not checkpoints:
        return 0
    latest = checkpoints[-1]
    model.load_state_dict(MultiViewDiffusionModel.from_pretrained(latest).state_dict())
    state, extra = load_training_state(latest)
    optimizer.load_state_dict(state.optimizer)
    lr_schedule.load_state_dict(state.scheduler)
    for index, shadow in enumerate(ema.shadow_params):
        shadow.copy_(extra[f"ema.{index}"])
    ema.optimization_step = state.counters["ema_steps"]
    generator.set_state(state.rng["generator"])
    logger.info("resumed from %s (step %d)", latest, state.step)
    return state.step


def train_multiview(cfg: TrainMultiViewConfig | DictConfig) -> dict[str, Any]:
    """Render, train, save, score and describe one stage; returns a summary dict."""
    started, cpu_started = time.perf_counter(), time.process_time()
    load_at_start = os.getloadavg()
    torch.manual_seed(cfg.seed)
    stage = cfg.stage
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    if cfg.train.init_from is not None:  # a field of the prior's training settings that this command lacks
        raise ValueError(f"train.init_from={cfg.train.init_from} is not supported by train_multiview: continue a "
                         "stage by running it again in the same run_dir (it resumes from its last checkpoint)")
    pool, cached = training_pool(cfg)
    condition_pool, target_pool = stage_tensors(stage, pool)
    data_seconds = time.perf_counter() - started
    logger.info("pool: %d examples (%s, %.0f s)", len(target_pool), "cache" if cached else "rendered", data_seconds)
    data = cfg.data
    rasterizer = make_rasterizer("torch")
    evaluation = held_out_examples(data.input_size, data.tile_size, rasterizer, data.mesh_resolution, data.supersample)

    model = build_model(cfg)
    scheduler = model.noise_scheduler()
    parameters = model.num_parameters()
    logger.info("%s stage: %.2fM parameters", stage, parameters / 1e6)
    train = cfg.train
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, train.warmup_steps, train.steps)
    ema = EMAModel(model.parameters(), decay=train.ema_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    step = _resume(cfg, model, optimizer, lr_schedule, ema, generator)
    denoiser = _AsUNet(model)
    preview_set = _subset(evaluation, cfg.sample.preview_objects)
    run_dir = Path(cfg.run_dir)

    history: list[tuple[int, float]] = []
    previews: list[tuple[int, float]] = []
    window: list[float] = []
    stopped_early = False
    train_started, train_cpu_started = time.perf_counter(), time.process_time()
    model.train()
    bar = tqdm(total=train.steps, initial=step, desc=f"train {stage}", dynamic_ncols=True)
    while step < train.steps:
        picks = torch.randint(len(target_pool), (train.batch_size,), generator=generator)
        drop = torch.rand(train.batch_size, generator=generator) < train.cond_drop_prob
        condition = model.encode_condition(condition_pool[picks], drop=drop)
        loss = diffusion_loss(denoiser, scheduler, model.to_canvas(target_pool[picks]), condition, generator,
                              train.min_snr_gamma)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()
        lr_schedule.step()
        ema.step(model.parameters())
        step += 1
        window.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        minutes = (time.perf_counter() - train_started) / 60.0
        if step % train.log_every == 0 or step == train.steps:
            history.append((step, sum(window) / len(window)))
            window.clear()
            logger.info("step %d/%d loss %.4f lr %.2e (%.1f min)", step, train.steps, history[-1][1],
                        lr_schedule.get_last_lr()[0], minutes)
        if train.sample_every and step % train.sample_every == 0:
            value = preview(model, ema, preview_set, cfg.sample.preview_steps, cfg.sample.guidance_scale,
                            cfg.sample.seed, run_dir / "samples" / f"step_{step:07d}.png")
            previews.append((step, value))
            logger.info("step %d: held-out preview median PSNR %.2f dB (EMA, %d DDIM steps)", step, value,
                        cfg.sample.preview_steps)
        if train.checkpoint_every and step % train.checkpoint_every == 0:
            _checkpoint(run_dir, step, model, cfg, optimizer, lr_schedule, ema, generator)
        if train.max_minutes is not None and minutes > train.max_minutes and step < train.steps:
            stopped_early = True
            logger.warning("stopping at step %d: over train.max_minutes=%s", step, train.max_minutes)
            _checkpoint(run_dir, step, model, cfg, optimizer, lr_schedule, ema, generator)
            break
    bar.close()
    train_seconds = time.perf_counter() - train_started
    train_cpu_seconds = time.process_time() - train_cpu_started

    ema.copy_to(model.parameters())
    model.config = dataclasses.replace(model.config, weights_dtype=cfg.model.weights_dtype)
    output_dir = Path(cfg.output_dir)
    model.save_pretrained(output_dir)
    shipped = MultiViewDiffusionModel.from_pretrained(output_dir)  # score what ships (float16 tensors)
    measured_started = time.perf_counter()
    generated = generate(shipped, stage_condition(shipped, evaluation), cfg.sample.seed)
    truth = stage_truth(shipped, evaluation)
    scores = score_images(generated, truth)
    sample_seconds = (time.perf_counter() - measured_started) / len(evaluation.objects)
    tiles, rows = comparison_grid(evaluation.inputs, generated, truth)
    image_grid(tiles, rows).save(output_dir / SAMPLES_FILE)
    summary = {
        "stage": stage, "parameters": parameters, "pool": len(target_pool), "steps": step,
        "planned_steps": train.steps, "stopped_early": stopped_early,
        "final_loss": history[-1][1] if history else float("nan"), "loss_history": history,
        "preview_psnr": previews, "data_seconds": data_seconds, "pool_cached": cached,
        "train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds,
        "seconds_per_sample": sample_seconds, "held_out": scores.summary(),
        "per_category": _per_category(evaluation, scores),
        "bundle_bytes": sum(f.stat().st_size for f in output_dir.iterdir() if f.is_file()),
        "machine": machine_description(cfg.threads), "load_average_at_start": load_at_start,
        "wall_seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started,
    }
    (output_dir / CARD_FILE).write_text(model_card(cfg, summary), encoding="utf-8")
    (run_dir / SUMMARY_FILE).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    logger.info("saved the %s stage to %s (%.1f min wall, %.1f min CPU)", stage, output_dir,
                summary["wall_seconds"] / 60.0, summary["cpu_seconds"] / 60.0)
    return summary


def _subset(examples: MultiViewExamples, count: int) -> MultiViewExamples:
    """Every ``len / count``-th example (spread over the shapes and categories)."""
    stride = max(1, len(examples.objects) // max(1, count))
    index = list(range(0, len(examples.objects), stride))[:count]
    return MultiViewExamples(examples.inputs[index], examples.views[index], examples.ccms[index],
                             examples.elevations[index], [examples.objects[i] for i in index])


def _per_category(examples: MultiViewExamples, scores) -> dict[str, float]:
    """Median PSNR (dB) per held-out category."""
    categories: dict[str, list[float]] = {}
    for obj, value in zip(examples.objects, scores.psnr.tolist(), strict=True):
        categories.setdefault(obj.category, []).append(value)
    return {name: statistics.median(values) for name, values in categories.items()}


def _checkpoint(run_dir, step, model, cfg, optimizer, lr_schedule, ema, generator) -> None:
    state = TrainingState(step=step, optimizer=optimizer.state_dict(), scheduler=lr_schedule.state_dict(),
                          rng={"generator": generator.get_state()}, counters={"ema_steps": ema.optimization_step})
    extra = {f"ema.{index}": shadow for index, shadow in enumerate(ema.shadow_params)}
    save_checkpoint(run_dir, step, model, cfg, state, extra_tensors=extra, keep_last=1)


# ------------------------------------------------------------------------------------------- model card
STAGE_TEXT = {
    "views": ("Toy multi-view diffusion, stage 1: picture -> six views",
              "the input picture [B, 3, {s}, {s}] (object centred on CRM grey, camera at distance 2.8, fov 40)",
              "the six orthographic CRM views [B, 6, 3, {t}, {t}] on grey"),
    "ccms": ("Toy multi-view diffusion, stage 2: six views -> six CCMs",
             "the six views [B, 6, 3, {t}, {t}] (stage 1's output; trained on the true views, as CRM)",
             "their canonical coordinate maps [B, 6, 3, {t}, {t}] ((xyz + 1) / 2, background 127/255)"),
}


def model_card(cfg: TrainMultiViewConfig | DictConfig, summary: dict[str, Any]) -> str:
    """The README.md of the weights folder: what the stage is, how it was trained, how well it does."""
    stage, data, train, model, sample = summary["stage"], cfg.data, cfg.train, cfg.model, cfg.sample
    title, condition, output = (text.format(s=data.input_size, t=data.tile_size) for text in STAGE_TEXT[stage])
    stopped = " (stopped early by train.max_minutes)" if summary["stopped_early"] else ""
    held = summary["held_out"]
    load = ", ".join(f"{value:.1f}" for value in summary["load_average_at_start"])
    lines = [
        f"# {title}",
        "",
        "One of CRM's two multi-view diffusion stages (arXiv 2403.05034) at toy scale, trained on the toy world",
        "(`atom.toyworld.crm_data` objects: Toy64 shapes, any color, yaw and scale).",
        "",
        "## Use",
        "",
        f"Condition: {condition}, values in [0, 1]. Output: {output}, in `CRM_VIEW_NAMES` order.",
        "",
        "```python",
        "from atom.model.multiview_diffusion import MultiViewDiffusionModel",
        f'model = MultiViewDiffusionModel.from_pretrained("atom/weights/toy_mv_{stage}")',
        "out = model.sample(condition, generator=torch.Generator().manual_seed(0))",
        "```",
        "",
        f"Defaults: DDIM {sample.num_inference_steps} steps (eta 0, trailing timesteps), classifier-free guidance",
        f"s = {sample.guidance_scale}.",
        "",
        "## Model",
        "",
        f"{summary['parameters'] / 1e6:.2f}M parameters ({summary['bundle_bytes'] / 1e6:.1f} MB on disk, "
        f"{model.weights_dtype} tensors, loaded as float32): a diffusers `UNet2DConditionModel`",
        f"(block_out_channels {list(model.block_out_channels)}, {list(model.down_block_types)}) over the six",
        f"images tiled in CRM's layout ([6, {data.tile_size}, {3 * data.tile_size}], pixels in [-1, 1]),",
        "the condition concatenated as channels and encoded to cross-attention tokens by a strided conv encoder",
        f"(channels {list(model.encoder_channels)}, width {model.embedding_dim}); {model.prediction_type.value},",
        "1000-step cosine schedule. See `atom/model/multiview_diffusion.py`.",
        "",
        "## Data",
        "",
        f"{summary['pool']} training examples rendered once (`atom.toyworld.multiview_data`, seed {cfg.seed}):",
        "objects from `crm_data.sample_training_object` (held-out colors / yaws never drawn), the picture a",
        f"perspective render at elevation -10..40 deg from CRM's front azimuth, {data.input_size} px",
        f"(rasterized at {data.supersample}x and averaged), the targets the six CRM views and CCMs at",
        f"{data.tile_size} px (`render_crm_views`), meshes at marching-tetrahedra grid {data.mesh_resolution}.",
        "",
        "## Training",
        "",
        f"`python -m atom.toyworld.train_multiview stage={stage}` (config `atom/conf/multiview/train_multiview.yaml`):",
        f"{summary['steps']} of {summary['planned_steps']} steps{stopped}, batch {train.batch_size}, "
        f"AdamW lr {train.lr}",
        f"(warm-up {train.warmup_steps}, cosine), weight decay {train.weight_decay}, gradient clip {train.grad_clip},",
        f"EMA {train.ema_decay} (the saved weights), condition dropped with p = {train.cond_drop_prob}, "
        + (f"Min-SNR gamma {train.min_snr_gamma}." if train.min_snr_gamma else "plain MSE."),
        "",
        f"- final loss (mean of the last {train.log_every} steps): {summary['final_loss']:.4f}",
        f"- training: {summary['train_seconds'] / 60:.1f} min wall, {summary['train_cpu_seconds'] / 60:.1f} min CPU "
        f"(one torch thread); pool {summary['data_seconds'] / 60:.1f} min"
        + (" (read from the cache)" if summary["pool_cached"] else " (rendered)"),
        f"- in all {summary['wall_seconds'] / 60:.1f} min wall, {summary['cpu_seconds'] / 60:.1f} min CPU",
        f"- machine: {summary['machine']}; load average at start {load} (the 2 cores were shared with other"
        " trainings)",
        "",
        "| step | loss |",
        "|---|---|",
        *(f"| {step} | {loss:.4f} |" for step, loss in summary["loss_history"][::4]),
        "",
        "## Held-out check",
        "",
        "The 24 held-out objects (`crm_data.held_out_objects`: diagonal pairs, unseen colors, unseen yaws), one",
        f"picture each (elevation from seed 4321), sampled with the defaults and seed {sample.seed}; PSNR / SSIM",
        "of the six generated images against the true six (`atom.toyworld.multiview_check`)"
        + (", the condition being the TRUE views:" if stage == "ccms" else ":"),
        "",
        f"- PSNR median **{held['median_psnr']:.2f} dB** (min {held['min_psnr']:.2f}); SSIM median "
        f"**{held['median_ssim']:.3f}** (min {held['min_ssim']:.3f})",
        "- median PSNR per category: " + ", ".join(f"{k} {v:.2f} dB" for k, v in summary["per_category"].items()),
        f"- {summary['seconds_per_sample']:.2f} s per object (batches of 8, one thread)",
        "",
        "`samples.png`: one held-out object per row: the picture (resized), the six generated images, the true six",
        "(front, left, bottom, back, right, top). `bench/bench_multiview.py` measures both stages chained.",
    ]
    return "\n".join(lines) + "\n"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR / "multiview"), config_name="train_multiview")
def main(cfg: DictConfig) -> dict[str, Any]:
    torch.set_num_threads(cfg.threads)
    logger.info("config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))
    summary = train_multiview(cfg)
    held = summary["held_out"]
    print(f"\n{summary['stage']} stage saved to {cfg.output_dir}: {summary['steps']} steps, final loss "
          f"{summary['final_loss']:.4f}, held-out PSNR median {held['median_psnr']:.2f} dB, SSIM median "
          f"{held['median_ssim']:.3f}; {summary['wall_seconds'] / 60:.1f} min wall, "
          f"{summary['cpu_seconds'] / 60:.1f} min CPU", flush=True)
    return summary


if __name__ == "__main__":
    main()
