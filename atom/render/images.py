"""Rendered images at the file boundary: float ``[N, 3, H, W]`` in [0, 1] -> 8-bit RGB PIL images and grids."""

from __future__ import annotations

import torch
from PIL import Image
from torch import Tensor


def image_grid(images: Tensor, rows: int) -> Image.Image:
    """``[rows * cols, 3, H, W]`` in [0, 1] -> one RGB image, tiles in row-major order."""
    if images.dim() != 4 or images.shape[1] != 3 or rows < 1 or images.shape[0] % rows:
        raise ValueError(f"images must be [rows * cols, 3, H, W] with rows={rows}, got {list(images.shape)}")
    n, _, h, w = images.shape
    cols = n // rows
    pixels = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    pixels = pixels.reshape(rows, cols, 3, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, cols * w, 3)
    return Image.fromarray(pixels.numpy())


def to_pil(image: Tensor) -> Image.Image:
    """One image ``[3, H, W]`` in [0, 1] -> an 8-bit RGB PIL image."""
    return image_grid(image[None], rows=1)
