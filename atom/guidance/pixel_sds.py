"""SDS in pixel space: DeepFloyd IF stage I (64x64) and the toy prior share this code path."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from atom.guidance.score_distillation import ScoreDistillation


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, resolution, resolution], bilinear with antialiasing (identity if same size)."""
    if images.shape[-2:] == (resolution, resolution):
        return images
    return F.interpolate(
        images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True
    )


class PixelSDS(ScoreDistillation):
    """SDS from a pixel-space diffusion model (DeepFloyd IF stage I, the toy prior).

    Renders in [0, 1] are resized to `resolution` and scaled to [-1, 1]; so at native resolution
    d loss / d images = 2 * grad / B. Other keyword arguments: see `ScoreDistillation`.
    """

    def __init__(self, path: str, guidance_scale: float = 20.0, resolution: int = 64, **kwargs: Any) -> None:
        super().__init__(path, guidance_scale=guidance_scale, resolution=resolution, **kwargs)
        in_channels = self.unet.config.in_channels
        if in_channels != 3:
            raise ValueError(
                f"a pixel-space UNet takes 3 input channels, got in_channels={in_channels} in '{path}'"
            )

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> [B, 3, resolution, resolution] in [-1, 1]."""
        return resize_images(images.float(), self.resolution) * 2.0 - 1.0
