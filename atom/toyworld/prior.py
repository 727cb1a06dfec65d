"""The toy world's diffusion prior: a small text-conditioned pixel UNet and its noise schedule.

It is an ordinary diffusers pipeline folder (``unet/`` + ``scheduler/``), so score distillation loads it
through the same `from_pretrained` path as DeepFloyd IF stage I (`atom.guidance.PixelSDS`), and any
diffusers sampler can draw from it. The design follows IF stage I at toy scale:

- pixels in [-1, 1], 32 x 32, 1000-step cosine (``squaredcos_cap_v2``) DDPM schedule, v-prediction
  (Salimans & Ho 2022): with epsilon prediction the clean image at high noise is read off as
  (x_t - sqrt(1 - a) eps) / sqrt(a) with a -> 0, so a briefly trained model gets the global color
  (the white background) wrong; v keeps that well conditioned. `PixelSDS` converts v to epsilon;
- MiniLM token embeddings [B, L, 384] attended by cross-attention ("simple" attention: the text keys and
  values are appended to the image's own), only at 16 x 16 and 8 x 8, where it is cheap on a CPU;
- the tokens are also attention-pooled into the time embedding (``addition_embed_type="text"``), which
  scales and shifts every ResNet block (``scale_shift``): color is a global property, and this hands it
  to the full-resolution layers that cross-attention never reaches;
- optionally (``camera=True``) the camera too: its features (`atom.guidance.camera_conditioning`, azimuth
  and elevation harmonics) go through diffusers' ``class_embed_type="projection"`` MLP into the same time
  embedding. The shapes are fixed in the world, so the camera fixes the object's yaw in the image, which
  a caption's view word did not teach the text-only prior (bench/RESULTS.md, issue 13). The saved UNet
  config records it; every caller passes ``class_labels`` = camera features then, in both CFG branches.

The prior is trained without ``encoder_attention_mask`` (padding tokens are attended, as in IF and Stable
Diffusion), so `PixelSDS` uses it with its default ``use_attention_mask=False``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from torch import Tensor

from atom.guidance.camera_conditioning import CAMERA_FEATURE_DIM, camera_feature_dim, check_camera_features
from atom.guidance.loading import load_scheduler, load_unet
from atom.prompts.views import ViewScheme, save_view_scheme
from atom.render.images import image_grid

CARD_FILE = "README.md"
PREDICTION_TYPES = ("v_prediction", "epsilon")  # what score distillation (`PixelSDS`) accepts
# How the bundled prior is sampled for its check (bench/RESULTS.md): mild guidance, deterministic DDIM; at
# s = 1.5 its shapes already blur (shape accuracy 0.547 against 0.969 at 1.1).
SAMPLE_GUIDANCE_SCALE = 1.1
SAMPLE_ETA = 0.0
SAMPLES_FILE = "samples.png"


def build_prior_unet(resolution: int = 32, text_dim: int = 384,
                     block_out_channels: tuple[int, ...] = (32, 64, 64), layers_per_block: int = 1,
                     attention_head_dim: int = 32, text_pool_heads: int = 6,
                     camera: bool = False) -> UNet2DConditionModel:
    """A randomly initialised prior UNet (about 2.2M parameters with the defaults).

    Args:
        resolution: image side length in pixels (the config's ``sample_size``).
        text_dim: width D of the token embeddings it is conditioned on (384 for MiniLM).
        block_out_channels: channels per resolution level, one level per entry; the first level runs at
            full resolution without attention, the others (at most two: 16 x 16 and 8 x 8 for 32 px)
            use cross-attention.
        layers_per_block: ResNet blocks per level on the way down (one more on the way up).
        attention_head_dim: channels per attention head.
        text_pool_heads: heads of the attention pooling of the tokens into the time embedding; must
            divide ``text_dim``.
        camera: also condition on the camera: ``class_labels`` [B, `CAMERA_FEATURE_DIM`] camera features
            projected into the time embedding (``class_embed_type="projection"``).
    """
    levels = len(block_out_channels)
    if levels not in (2, 3):
        raise ValueError(f"block_out_channels must have 2 or 3 levels (attention below full resolution "
                         f"only), got {block_out_channels}")
    if resolution % 2 ** (levels - 1):
        raise ValueError(f"resolution must be divisible by {2 ** (levels - 1)} for {levels} levels, "
                         f"got {resolution}")
    if text_dim % text_pool_heads:
        raise ValueError(f"text_pool_heads must divide text_dim={text_dim}, got {text_pool_heads}")
    attention_levels = levels - 1
    camera_kwargs = ({"class_embed_type": "projection", "projection_class_embeddings_input_dim": CAMERA_FEATURE_DIM}
                     if camera else {})
    return UNet2DConditionModel(
        sample_size=resolution,
        in_channels=3,
        out_channels=3,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        down_block_types=("DownBlock2D",) + ("SimpleCrossAttnDownBlock2D",) * attention_levels,
        up_block_types=("SimpleCrossAttnUpBlock2D",) * attention_levels + ("UpBlock2D",),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        cross_attention_dim=text_dim,
        attention_head_dim=attention_head_dim,
        addition_embed_type="text",
        addition_embed_type_num_heads=text_pool_heads,
        resnet_time_scale_shift="scale_shift",
        norm_num_groups=16,
        **camera_kwargs,
    )


def build_prior_scheduler(num_train_timesteps: int = 1000, beta_schedule: str = "squaredcos_cap_v2",
                          prediction_type: str = "v_prediction") -> DDPMScheduler:
    """The training noise schedule: DDPM, samples clipped to [-1, 1].

    ``prediction_type`` "v_prediction" (the default) or "epsilon": what the UNet predicts.
    """
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
                         prediction_type=prediction_type, clip_sample=True, clip_sample_range=1.0)


def save_prior(unet: UNet2DConditionModel, scheduler: DDPMScheduler, directory: str | Path, card: str,
               view_scheme: ViewScheme, samples: Tensor | None = None, rows: int = 8) -> Path:
    """Write the prior as a diffusers pipeline folder and return it.

    Layout: ``unet/`` (config.json + diffusion_pytorch_model.safetensors), ``scheduler/``
    (scheduler_config.json), ``view_scheme.json`` (the view captions it was trained on, which score
    distillation must use: `atom.prompts.views.resolve_view_scheme`), ``README.md`` (the model card,
    ``card``) and, when ``samples``
    [rows * cols, 3, H, W] in [0, 1] are given, ``samples.png`` (a row-major grid).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(directory / "unet", safe_serialization=True)
    scheduler.save_pretrained(directory / "scheduler")
    save_view_scheme(directory, view_scheme)
    (directory / CARD_FILE).write_text(card, encoding="utf-8")
    if samples is not None:
        image_grid(samples, rows).save(directory / SAMPLES_FILE)
    return directory


def load_prior(directory: str | Path) -> tuple[UNet2DConditionModel, DDPMScheduler]:
    """The frozen, eval-mode UNet and the DDPM schedule of a folder written by `save_prior`."""
    return load_unet(directory), load_scheduler(directory)


@torch.no_grad()
def sample_prior(unet: UNet2DConditionModel, scheduler: DDPMScheduler, cond: Tensor, uncond: Tensor,
                 guidance_scale: float = SAMPLE_GUIDANCE_SCALE, num_inference_steps: int = 50,
                 eta: float = SAMPLE_ETA,
                 generator: torch.Generator | None = None, batch_size: int = 64,
                 camera_features: Tensor | None = None) -> Tensor:
    """Draw one image per conditioning with DDIM and classifier-free guidance.

    Args:
        unet, scheduler: the prior (`load_prior`); the DDIM sampler is built from the schedule's config.
        cond: [B, L, D] token embeddings, one row per image.
        uncond: [1, L, D] embedding of the empty prompt.
        guidance_scale: s in eps_u + s (eps_c - eps_u); 1 is plain conditional sampling.
        eta: DDIM's noise scale: 0 is the deterministic sampler, 1 the ancestral one.
        generator: for the initial and the step noise (drawn on the CPU: the same seed, the same images).
        batch_size: images denoised at once.
        camera_features: [B, K] camera features (`atom.guidance.camera_features`), required by a
            camera-conditioned prior and refused by one that is not; both CFG branches get the same camera.

    Returns:
        [B, 3, H, W] float32 in [0, 1].
    """
    if cond.dim() != 3 or uncond.dim() != 3 or uncond.shape[0] != 1 or uncond.shape[1:] != cond.shape[1:]:
        raise ValueError(f"cond must be [B, L, D] and uncond [1, L, D], got {list(cond.shape)} and "
                         f"{list(uncond.shape)}")
    check_camera_features(camera_features, camera_feature_dim(unet), cond.shape[0], "the prior")
    sampler = DDIMScheduler.from_config(scheduler.config)
    size = unet.config.sample_size
    device, dtype = unet.device, unet.dtype
    noise = torch.randn(cond.shape[0], unet.config.in_channels, size, size, generator=generator)
    images = []
    for start in range(0, cond.shape[0], batch_size):
        x = noise[start:start + batch_size].to(device, dtype)
        batch = x.shape[0]
        tokens = torch.cat([uncond.expand(batch, -1, -1), cond[start:start + batch_size]]).to(device, dtype)
        cameras = None
        if camera_features is not None:
            cameras = camera_features[start:start + batch_size].repeat(2, 1).to(device, dtype)
        sampler.set_timesteps(num_inference_steps)
        for t in sampler.timesteps:
            eps_uncond, eps_cond = unet(torch.cat([x, x]), t, encoder_hidden_states=tokens,
                                        class_labels=cameras).sample.chunk(2)
            guided = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
            step_noise = torch.randn(x.shape, generator=generator).to(device, dtype)
            x = sampler.step(guided, t, x, eta=eta, variance_noise=step_noise).prev_sample
        images.append((x.float().cpu() + 1.0) / 2.0)
    return torch.cat(images).clamp(0.0, 1.0)
