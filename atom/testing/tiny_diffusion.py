"""Tiny, randomly initialised diffusers pipelines (IF-style pixel, SD-style latent), built offline.

They stand in for DeepFloyd IF stage I and Stable Diffusion in tests, benchmarks and smoke runs: the
same classes and folder layout (`model_index.json`, `unet/`, `scheduler/`, `text_encoder/`,
`tokenizer/`, and `vae/` for SD, all written by the pipeline's `save_pretrained`), so every loader
that takes a real pipeline folder takes these. About 1M UNet parameters each; attention only at
16x16 and below so a CPU step stays cheap. Same folder contents on every call (fixed seed).
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    IFPipeline,
    PNDMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5Tokenizer

from atom.testing.tiny_text import build_tiny_clip, build_tiny_t5

SEED = 0


def build_tiny_if(directory: str | Path) -> Path:
    """Write a tiny DeepFloyd-IF-stage-I-style pipeline into `directory` and return it.

    UNet: 64x64 pixels, 3 -> 6 channels (eps + learned variance range), T5 tokens projected by
    `encoder_hid_dim` ("text_proj") plus pooled text added to the time embedding, as IF-I-XL.
    Scheduler: IF's DDPM settings (squaredcos_cap_v2, 1000 steps, learned_range variance).
    """
    directory = Path(directory)
    build_tiny_t5(directory)
    text_encoder = T5EncoderModel.from_pretrained(directory / "text_encoder").eval()
    tokenizer = T5Tokenizer.from_pretrained(directory / "tokenizer")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        unet = UNet2DConditionModel(
            sample_size=64,
            in_channels=3,
            out_channels=6,
            block_out_channels=(32, 32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
            up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D", "UpBlock2D"),
            mid_block_type="UNetMidBlock2DSimpleCrossAttn",
            encoder_hid_dim=text_encoder.config.d_model,
            encoder_hid_dim_type="text_proj",
            cross_attention_dim=64,
            attention_head_dim=8,
            addition_embed_type="text",
            addition_embed_type_num_heads=2,
            cross_attention_norm="group_norm",
            resnet_time_scale_shift="scale_shift",
            act_fn="gelu",
            norm_num_groups=8,
        ).eval()
    scheduler = DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        variance_type="learned_range",
        prediction_type="epsilon",
        thresholding=True,
        dynamic_thresholding_ratio=0.95,
        sample_max_value=1.5,
    )
    pipeline = IFPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory)
    return directory


def build_tiny_sd(directory: str | Path) -> Path:
    """Write a tiny Stable-Diffusion-style pipeline into `directory` and return it.

    VAE: 3 -> 4 latent channels, 2x downsampling (SD's is 8x). UNet: 4 -> 4 channels, cross-attention
    on CLIP tokens at the lower level. Scheduler: SD's PNDM with its scaled-linear betas (SDS reads
    them as DDPM).
    """
    directory = Path(directory)
    build_tiny_clip(directory)
    text_encoder = CLIPTextModel.from_pretrained(directory / "text_encoder").eval()
    tokenizer = CLIPTokenizer.from_pretrained(directory / "tokenizer")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=64,
        ).eval()
        unet = UNet2DConditionModel(
            sample_size=32,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=text_encoder.config.hidden_size,
            attention_head_dim=8,
            norm_num_groups=32,
        ).eval()
    scheduler = PNDMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory)
    return directory
