"""Canonical coordinate maps (CCMs, CRM arXiv 2403.05034): the world point each pixel sees, as a color.

A CCM pixel stores the canonical (world) coordinate of the visible surface point, mapped from ``[-1, 1]`` to
``[0, 1]`` per channel: ``ccm = (xyz + 1) / 2`` (R, G, B = X, Y, Z). Background pixels hold CRM's grey
``127 / 255`` (the coordinate ``-1 / 255``, about 0). Decoding is the inverse, ``xyz = 2 ccm - 1``.

CCMs are composited with the hard (pixel-centre) coverage, not the antialiased one: a blend of a surface
coordinate and the background is no point of the surface.
"""

from __future__ import annotations

import torch
from torch import Tensor

CRM_BACKGROUND = 127.0 / 255.0
"""CRM's grey background, for color images and CCMs alike."""


def _check_image(name: str, image: Tensor, channels: int) -> None:
    if image.dim() != 4 or image.shape[1] != channels:
        raise ValueError(f"{name} must be [B, {channels}, H, W], got {list(image.shape)}")


def ccm_shade(position: Tensor, mask: Tensor, background: float = CRM_BACKGROUND) -> Tensor:
    """The CCM of a render.

    Args:
        position: [B, 3, H, W] world xyz of the visible surface (``MeshRenderOutput.position``).
        mask: [B, 1, H, W] coverage; pixels with ``mask > 0.5`` are surface (use ``hard_mask``).
        background: value of background pixels in every channel.

    Returns:
        [B, 3, H, W] in [0, 1]: ``(xyz + 1) / 2`` (clamped) on the surface, ``background`` elsewhere.
    """
    _check_image("position", position, 3)
    _check_image("mask", mask, 1)
    if mask.shape[0] != position.shape[0] or mask.shape[2:] != position.shape[2:]:
        raise ValueError(f"mask must be {[position.shape[0], 1, *position.shape[2:]]}, got {list(mask.shape)}")
    coordinates = ((position + 1.0) * 0.5).clamp(0.0, 1.0)
    return torch.where(mask > 0.5, coordinates, torch.full_like(coordinates, background))


def decode_ccm(ccm: Tensor) -> Tensor:
    """World coordinates ``2 ccm - 1`` of a CCM ``[..., 3, H, W]`` in [0, 1] (channels X, Y, Z)."""
    if ccm.dim() < 3 or ccm.shape[-3] != 3:
        raise ValueError(f"ccm must be [..., 3, H, W], got {list(ccm.shape)}")
    if ccm.numel() and (float(ccm.min()) < 0.0 or float(ccm.max()) > 1.0):
        raise ValueError(f"ccm values must be in [0, 1], got [{float(ccm.min())}, {float(ccm.max())}]")
    return ccm * 2.0 - 1.0
