"""SDS in the latent space of a VAE: Stable Diffusion."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atom.guidance.loading import load_vae
from atom.guidance.pixel_sds import resize_images
from atom.guidance.score_distillation import ScoreDistillation


class LatentSDS(ScoreDistillation):
    """SDS from a latent diffusion model (Stable Diffusion): the gradient reaches the renders through
    the VAE encoder.

    Renders in [0, 1] are resized to `resolution` (512 for SD 1.x/2.x base), scaled to [-1, 1] and
    encoded with grad: `latent_dist.sample() * vae.config.scaling_factor`. The encoder's sampling noise
    is drawn from torch's global RNG. Other keyword arguments: see `ScoreDistillation`.
    """

    def __init__(
        self, path: str, guidance_scale: float = 100.0, resolution: int = 512, **kwargs: Any
    ) -> None:
        super().__init__(path, guidance_scale=guidance_scale, resolution=resolution, **kwargs)
        self.vae = load_vae(self.path, variant=self.variant)
        latent_channels = self.vae.config.latent_channels
        if latent_channels != self.unet.config.in_channels:
            raise ValueError(
                f"VAE latent_channels={latent_channels} does not match UNet in_channels="
                f"{self.unet.config.in_channels} in '{path}'"
            )

    @property
    def frozen_modules(self) -> list[nn.Module]:
        return [self.unet, self.vae]

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> latents [B, 4, resolution / f, resolution / f] float32 (f: VAE scale)."""
        pixels = resize_images(images.float(), self.resolution) * 2.0 - 1.0
        posterior = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist
        return posterior.sample().float() * self.vae.config.scaling_factor
