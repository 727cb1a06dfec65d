"""Shading shared by the mesh and volume renderers, and DreamFusion-style random lights.

All colors are float in [0, 1]; vectors are channel-last ``[..., 3]`` in world space.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atom.render.cameras import Cameras

SHADING_MODES = ("albedo", "lambertian", "textureless")
#: ambient fraction and background every renderer uses unless configured otherwise (``RenderConfig`` too)
DEFAULT_AMBIENT = 0.3
WHITE = (1.0, 1.0, 1.0)


def shade(
    albedo: Tensor, normals: Tensor, light_direction: Tensor, mode: str = "lambertian",
    ambient: float = DEFAULT_AMBIENT,
) -> Tensor:
    """Shade surface points.

    Args:
        albedo: [..., 3] base color in [0, 1] (ignored by "textureless").
        normals: [..., 3] unit world normals.
        light_direction: direction towards the light, normalised here; [3], [..., 3] broadcastable to
            ``normals``, or [B, 3] with ``normals`` [B, ..., 3] (one light per batch element).
        mode: "albedo" (no lighting), "lambertian" (``albedo * (ambient + (1 - ambient) * max(0, n.l))``)
            or "textureless" (the same with white albedo).
        ambient: ambient fraction in [0, 1].

    Returns:
        [..., 3] shaded color.
    """
    if mode not in SHADING_MODES:
        raise ValueError(f"unknown shading mode {mode!r}; accepted: {', '.join(SHADING_MODES)}")
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f"ambient must be in [0, 1], got {ambient}")
    if albedo.shape[-1] != 3 or normals.shape[-1] != 3 or light_direction.shape[-1] != 3:
        raise ValueError(
            f"albedo, normals and light_direction must end in 3, got {list(albedo.shape)}, "
            f"{list(normals.shape)}, {list(light_direction.shape)}"
        )
    if mode == "albedo":
        return albedo
    if light_direction.dim() == 2 and normals.dim() > 2 and light_direction.shape[0] == normals.shape[0]:
        light_direction = light_direction.view(light_direction.shape[0], *[1] * (normals.dim() - 2), 3)
    light = torch.nn.functional.normalize(light_direction, dim=-1)
    diffuse = (normals * light).sum(-1, keepdim=True).clamp(min=0.0)
    base = torch.ones_like(albedo) if mode == "textureless" else albedo
    return base * (ambient + (1.0 - ambient) * diffuse)


def random_light_directions(
    cameras: Cameras | Tensor, generator: torch.Generator | None = None, noise_std: float = 1.0
) -> Tensor:
    """Unit directions towards a light near each camera, as DreamFusion/threestudio: the camera position
    plus Gaussian noise of ``noise_std`` world units per axis, normalised.

    Args:
        cameras: :class:`Cameras` or camera positions [B, 3].
        generator: for reproducible lights.
        noise_std: light position jitter in world units.

    Returns:
        [B, 3] unit vectors.
    """
    positions = cameras.position() if isinstance(cameras, Cameras) else cameras
    if positions.dim() != 2 or positions.shape[-1] != 3:
        raise ValueError(f"camera positions must be [B, 3], got {list(positions.shape)}")
    noise = torch.randn(
        positions.shape,
        generator=generator,
        dtype=positions.dtype,
        device=generator.device if generator is not None else positions.device,
    )
    return torch.nn.functional.normalize(positions + noise_std * noise.to(positions.device), dim=-1)
