"""``python -m atom.toyworld.train_prior``: train the toy world's diffusion prior on ground-truth renders.

Steps: render Toy64 with view-dependent captions (`atom.toyworld.renders`, cached on disk), encode every
distinct caption and the empty prompt once with the frozen MiniLM, then train the prior UNet
(`atom.toyworld.prior`) with the v (or epsilon) objective, AdamW, a cosine learning rate, an EMA of the
weights, and the caption replaced by the empty prompt with probability ``cond_drop_prob`` so that
classifier-free guidance works. With ``model.camera=true`` the UNet is also conditioned on each render's
camera (`atom.guidance.camera_conditioning`); the camera is never dropped, only the caption, so the
unconditional branch of classifier-free guidance is "the empty prompt at this camera". The EMA weights are
saved as a diffusers pipeline folder, checked with `atom.toyworld.prior_check` (loaded back through the same
path score distillation uses), and described in a model card (``README.md``) next to a sample grid
(``samples.png``).

Config: ``atom/conf/prior/train_prior.yaml`` merged into `TrainPriorConfig`; override on the command line,
e.g. ``python -m atom.toyworld.train_prior train.steps=200 output_dir=/tmp/prior``.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import hydra
import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from tqdm.auto import tqdm

from atom.config import CONF_DIR, ViewSchemeName, register_configs
from atom.guidance.camera_conditioning import camera_features
from atom.guidance.loading import load_unet
from atom.prompts.views import get_view_scheme
from atom.text import MiniLMTextEncoder
from atom.toyworld.prior import (
    build_prior_scheduler,
    build_prior_unet,
    save_prior,
)
from atom.toyworld.prior_check import CHECK_HEADING, PriorCheckConfig, check_markdown, check_prior, format_check
from atom.toyworld.renders import render_dataset

logger = logging.getLogger("atom.toyworld.train_prior")


@dataclass
class PriorDataConfig:
    """The rendered training set (`atom.toyworld.renders.render_dataset`)."""

    resolution: int = 32
    views_per_object: int = 256
    supersample: int = 2
    mesh_resolution: int = 48
    # albedo / lambertian / textureless: no grey renders by default, since grey would be a mode every
    # caption shares and score distillation, being mode-seeking, settles there (measured: grey shapes)
    shading_probs: list[float] = field(default_factory=lambda: [0.3, 0.7, 0.0])
    # how captions name the view (`atom.prompts.views.VIEW_SCHEMES`); saved with the weights. sectors8: eight
    # 45-degree sectors, narrower than a cube's symmetry period, so the caption fixes the object's yaw
    view_scheme: ViewSchemeName = ViewSchemeName.sectors8
    cache_dir: Optional[str] = "~/.cache/atom/toy_renders"  # noqa: UP045 (OmegaConf needs typing.Optional)


@dataclass
class PriorTextConfig:
    max_length: int = 32


class PredictionType(Enum):
    """What the prior's UNet predicts (the diffusers scheduler's ``prediction_type``)."""

    v_prediction = "v_prediction"
    epsilon = "epsilon"


@dataclass
class PriorModelConfig:
    """`atom.toyworld.prior.build_prior_unet` arguments."""

    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 64])
    prediction_type: PredictionType = PredictionType.v_prediction
    layers_per_block: int = 1
    attention_head_dim: int = 32
    text_pool_heads: int = 6
    # condition on the camera as well (azimuth/elevation features into the time embedding); saved in the
    # UNet's config, so score distillation and the check detect it from the folder
    camera: bool = False


@dataclass
class PriorTrainConfig:
    steps: int = 2400
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    cond_drop_prob: float = 0.15
    min_snr_gamma: Optional[float] = None  # noqa: UP045
    max_minutes: Optional[float] = 55.0  # noqa: UP045
    log_every: int = 50
    # start from the UNet weights of this prior folder (same architecture) instead of a random init: a second,
    # longer schedule for a prior whose check fell short
    init_from: Optional[str] = None  # noqa: UP045


@dataclass
class TrainPriorConfig:
    seed: int = 0
    output_dir: str = "atom/weights/toy_prior"
    threads: int = 2
    data: PriorDataConfig = field(default_factory=PriorDataConfig)
    text: PriorTextConfig = field(default_factory=PriorTextConfig)
    model: PriorModelConfig = field(default_factory=PriorModelConfig)
    train: PriorTrainConfig = field(default_factory=PriorTrainConfig)
    check: PriorCheckConfig = field(default_factory=PriorCheckConfig)


register_configs()  # the ${atom_asset:...} resolver
ConfigStore.instance().store(name="train_prior_schema", node=TrainPriorConfig)


def encode_captions(captions: list[str], max_length: int) -> tuple[Tensor, Tensor, Tensor]:
    """Encode each distinct caption once with MiniLM.

    Returns:
        table [U, L, D] token embeddings of the U distinct captions, index [N] (caption n -> row),
        and empty [1, L, D], the empty prompt (the unconditional input of classifier-free guidance).
    """
    encoder = MiniLMTextEncoder(max_length=max_length)
    distinct = sorted(set(captions))
    row = {caption: i for i, caption in enumerate(distinct)}
    table = encoder.encode(distinct).tokens
    empty = encoder.encode([""], allow_empty=True).tokens
    return table, torch.tensor([row[caption] for caption in captions]), empty


def diffusion_loss(unet: UNet2DConditionModel, scheduler: DDPMScheduler, images: Tensor, tokens: Tensor,
                   generator: torch.Generator, min_snr_gamma: float | None,
                   cameras: Tensor | None = None) -> Tensor:
    """Denoising loss of clean ``images`` [B, 3, H, W] in [-1, 1] under ``tokens`` [B, L, D] (and, for a
    camera-conditioned UNet, ``cameras`` [B, K] camera features, its ``class_labels``).

    The target is the noise or the velocity, as the scheduler's ``prediction_type`` says. With
    ``min_snr_gamma``, sample b is weighted by min(SNR(t_b), gamma) / SNR(t_b) for epsilon and by
    min(SNR, gamma) / (SNR + 1) for v (Min-SNR, Hang et al. 2023: both equal min(SNR, gamma) times the
    clean-image error), which keeps the easy low-noise steps from dominating and speeds convergence.
    """
    batch = images.shape[0]
    noise = torch.randn(images.shape, generator=generator)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=generator)
    noisy = scheduler.add_noise(images, noise, timesteps)
    velocity = scheduler.config.prediction_type == "v_prediction"
    target = scheduler.get_velocity(images, noise, timesteps) if velocity else noise
    predicted = unet(noisy, timesteps, encoder_hidden_states=tokens, class_labels=cameras).sample
    per_sample = (predicted - target).pow(2).mean(dim=(1, 2, 3))
    if min_snr_gamma is None:
        return per_sample.mean()
    alpha_bar = scheduler.alphas_cumprod[timesteps]
    snr = alpha_bar / (1.0 - alpha_bar)
    return (per_sample * snr.clamp(max=min_snr_gamma) / (snr + 1.0 if velocity else snr)).mean()


def train_prior(cfg: TrainPriorConfig | DictConfig) -> dict[str, Any]:
    """Render, encode, train, save, check and describe the prior; returns a summary dict."""
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    torch.manual_seed(cfg.seed)
    data = cfg.data
    scheme = get_view_scheme(data.view_scheme.value)
    renders = render_dataset(resolution=data.resolution, views_per_object=data.views_per_object,
                             seed=cfg.seed, supersample=data.supersample,
                             mesh_resolution=data.mesh_resolution, shading_probs=tuple(data.shading_probs),
                             view_scheme=scheme.name, cache_dir=data.cache_dir)
    render_seconds = time.perf_counter() - started
    table, caption_index, empty = encode_captions(renders.captions, cfg.text.max_length)
    logger.info("data: %d images, %d distinct captions, tokens %s (%.0f s)", len(renders.captions),
                len(table), list(table.shape[1:]), render_seconds)

    model = cfg.model
    unet = build_prior_unet(data.resolution, table.shape[-1], tuple(model.block_out_channels),
                            model.layers_per_block, model.attention_head_dim, model.text_pool_heads,
                            camera=model.camera)
    if cfg.train.init_from is not None:
        start = load_unet(cfg.train.init_from)
        as_list = lambda value: list(value) if isinstance(value, tuple) else value  # noqa: E731 (JSON has no tuples)
        differing = sorted(key for key, value in unet.config.items()
                           if not key.startswith("_") and as_list(start.config.get(key)) != as_list(value))
        if differing:
            raise ValueError(f"train.init_from={cfg.train.init_from} holds a UNet of another architecture than "
                             f"model.* builds: its config differs in {differing}")
        unet.load_state_dict(start.state_dict())
        logger.info("prior UNet: weights from %s", cfg.train.init_from)
    features = camera_features(renders.azimuth, renders.elevation) if model.camera else None
    scheduler = build_prior_scheduler(prediction_type=model.prediction_type.value)
    parameters = sum(p.numel() for p in unet.parameters())
    logger.info("prior UNet: %.2fM parameters", parameters / 1e6)
    train = cfg.train
    optimizer = torch.optim.AdamW(unet.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, train.warmup_steps, train.steps)
    ema = EMAModel(unet.parameters(), decay=train.ema_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    images = renders.images * 2.0 - 1.0

    history: list[tuple[int, float]] = []
    window: list[float] = []
    step, stopped_early = 0, False
    train_started = time.perf_counter()
    unet.train()
    bar = tqdm(total=train.steps, desc="train prior", dynamic_ncols=True)
    while step < train.steps:
        picks = torch.randint(len(images), (train.batch_size,), generator=generator)
        tokens = table[caption_index[picks]]
        drop = torch.rand(train.batch_size, generator=generator) < train.cond_drop_prob
        tokens = torch.where(drop[:, None, None], empty, tokens)
        cameras = features[picks] if features is not None else None  # never dropped: see the module docstring
        loss = diffusion_loss(unet, scheduler, images[picks], tokens, generator, train.min_snr_gamma, cameras)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), train.grad_clip)
        optimizer.step()
        lr_schedule.step()
        ema.step(unet.parameters())
        step += 1
        window.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % train.log_every == 0 or step == train.steps:
            history.append((step, sum(window) / len(window)))
            window.clear()
            minutes = (time.perf_counter() - train_started) / 60.0
            logger.info("step %d/%d loss %.4f lr %.2e (%.1f min)", step, train.steps, history[-1][1],
                        lr_schedule.get_last_lr()[0], minutes)
            if train.max_minutes is not None and minutes > train.max_minutes and step < train.steps:
                stopped_early = True
                logger.warning("stopping at step %d: over train.max_minutes=%s", step, train.max_minutes)
                break
    bar.close()
    train_seconds = time.perf_counter() - train_started

    ema.copy_to(unet.parameters())
    unet.eval()
    output_dir = Path(cfg.output_dir)
    summary = {
        "images": len(renders.captions), "distinct_captions": len(table), "parameters": parameters,
        "steps": step, "planned_steps": train.steps, "stopped_early": stopped_early,
        "final_loss": history[-1][1] if history else float("nan"), "loss_history": history,
        "render_seconds": render_seconds, "train_seconds": train_seconds,
        "machine": machine_description(cfg.threads),
        "load_average_at_start": load_at_start,
    }
    save_prior(unet, scheduler, output_dir, model_card(cfg, summary, None), scheme)
    check = check_prior(str(output_dir), cfg.check.guidance_scale, cfg.seed, cfg.check.num_inference_steps,
                        cfg.check.view.value, cfg.text.max_length, eta=cfg.check.eta)
    logger.info("prior check:\n%s", format_check(check))
    summary["wall_seconds"] = time.perf_counter() - started
    save_prior(unet, scheduler, output_dir, model_card(cfg, summary, check), scheme, samples=check["samples"])
    summary.update(color_accuracy=check["color_accuracy"], shape_accuracy=check["shape_accuracy"])
    logger.info("saved the prior to %s (%.1f min in all)", output_dir, summary["wall_seconds"] / 60.0)
    return summary


def machine_description(threads: int) -> str:
    """CPU model, core count, torch version and threads, for the model card."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return f"{model}, {os.cpu_count()} CPUs, torch {torch.__version__}, {threads} torch threads"


def model_card(cfg: TrainPriorConfig | DictConfig, summary: dict[str, Any],
               check: dict[str, Any] | None) -> str:
    """The README.md of the weights folder: what the prior is, how it was trained, how well it does."""
    data, train, model, length = cfg.data, cfg.train, cfg.model, cfg.text.max_length
    stopped = " (stopped early by train.max_minutes)" if summary["stopped_early"] else ""
    load = ", ".join(f"{value:.1f}" for value in summary["load_average_at_start"])
    wall = summary.get("wall_seconds", float("nan")) / 60.0
    lines = [
        "# Toy64 diffusion prior",
        "",
        "A small text-conditioned pixel diffusion model of the toy world: 32 x 32 RGB renders of Toy64",
        '(8 shapes x 8 colors, prompts "a {color} {shape}") with view-dependent captions',
        '("a red cube, front view"). It stands in for DeepFloyd IF stage I in the offline default',
        "experiment (`atom/conf/guidance/toy_prior.yaml`).",
        "",
        "## Use",
        "",
        "A diffusers pipeline folder: `unet/` (`UNet2DConditionModel`, safetensors) and `scheduler/`",
        f"(`DDPMScheduler`, 1000 steps, `squaredcos_cap_v2`, {model.prediction_type.value}). Pixels in [-1, 1].",
        f"Conditioning: token embeddings [B, {length}, 384] of the bundled MiniLM",
        f"(`atom.text.MiniLMTextEncoder(max_length={length})`), padding tokens included (trained without",
        '`encoder_attention_mask`); the unconditional input is the empty prompt "".',
        "",
        "```python",
        "from atom.guidance import PixelSDS",
        'sds = PixelSDS(path="atom/weights/toy_prior", resolution=32, guidance_scale=3.0)',
        "```",
        "",
        "## Model",
        "",
        f"{summary['parameters'] / 1e6:.2f}M parameters: block_out_channels",
        f"{list(model.block_out_channels)}, {model.layers_per_block} ResNet block(s) per level,",
        "cross-attention (text keys and values appended to the image's) at 16 x 16 and 8 x 8 only,",
        "tokens attention-pooled into the time embedding, which scales and shifts every ResNet block.",
        *(["Camera-conditioned: `class_labels` = [B, 8] features of each image's camera",
           "(`atom.guidance.camera_features(azimuth, elevation)`, degrees) are projected into the time embedding;",
           "pass them in both classifier-free guidance branches (only the caption was dropped in training)."]
          if model.camera else []),
        "See `atom/toyworld/prior.py`.",
        "",
        "## Data",
        "",
        f"{summary['images']} ground-truth renders (`atom.toyworld.renders.render_dataset`), "
        f"{data.views_per_object} random cameras per object",
        "(elevation -10..45 deg, azimuth -180..180, distance 2.5..3.0, fov 40..45), shading albedo /",
        "lambertian / textureless with probabilities "
        f"{' / '.join(f'{p:g}' for p in data.shading_probs)} (ambient 0.3, light near the camera),",
        "white background,",
        f"rasterized at {data.supersample * data.resolution} px from marching-tetrahedra meshes "
        f"(grid {data.mesh_resolution}), resized to {data.resolution} px;",
        f"{summary['distinct_captions']} distinct captions; views named by the view scheme "
        f"`{data.view_scheme.value}` (`atom.prompts.views`,",
        "recorded in `view_scheme.json`: score distillation must caption its cameras with the same scheme).",
        "",
        "## Training",
        "",
        f"`python -m atom.toyworld.train_prior` (config `atom/conf/prior/train_prior.yaml`), seed {cfg.seed}:",
        f"{summary['steps']} of {summary['planned_steps']} steps{stopped}, batch {train.batch_size}, "
        f"AdamW lr {train.lr} (warm-up {train.warmup_steps}, cosine),",
        f"weight decay {train.weight_decay}, gradient clip {train.grad_clip}, EMA {train.ema_decay} "
        f"(the saved weights), caption replaced",
        f"by the empty prompt with p = {train.cond_drop_prob}, {model.prediction_type.value} loss "
        + (f"with Min-SNR gamma {train.min_snr_gamma}." if train.min_snr_gamma else "(plain MSE).")
        + (f" Started from the weights of `{train.init_from}`." if train.init_from else ""),
        "",
        f"- final loss (mean of the last {train.log_every} steps): {summary['final_loss']:.4f}",
        f"- wall time: renders {summary['render_seconds'] / 60:.1f} min (about 0 when cached), "
        f"training {summary['train_seconds'] / 60:.1f} min, in all {wall:.1f} min",
        f"- machine: {summary['machine']}; load average at start {load}",
        "",
        "| step | loss |",
        "|---|---|",
        *(f"| {step} | {loss:.4f} |" for step, loss in summary["loss_history"][::4]),
        "",
        CHECK_HEADING,
        "",
        *check_markdown(check),
    ]
    return "\n".join(lines) + "\n"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR / "prior"), config_name="train_prior")
def main(cfg: DictConfig) -> dict[str, Any]:
    torch.set_num_threads(cfg.threads)
    logger.info("config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))
    summary = train_prior(cfg)
    print(f"\nprior saved to {cfg.output_dir}: {summary['steps']} steps, "
          f"final loss {summary['final_loss']:.4f}, color accuracy {summary['color_accuracy']:.3f}, "
          f"shape accuracy {summary['shape_accuracy']:.3f}, {summary['wall_seconds'] / 60:.1f} min",
          flush=True)
    return summary


if __name__ == "__main__":
    main()
