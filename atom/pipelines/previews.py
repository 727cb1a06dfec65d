"""Preview images of generated meshes: turntable grids (PNG), turntable animations (GIF) and filmstrips.

Rendered with the project's rasterizer and its one view shader (``atom.render.view_shader``): vertex colors
as albedo, lambertian shading under a light at the camera (a head light, so every view is lit), composited
over a white background with the antialiased coverage mask.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from atom.geometry import Mesh
from atom.render import Cameras, Rasterizer, ViewShading, render_mesh, shade_views
from atom.render.images import image_grid, to_pil
from atom.render.shading import DEFAULT_AMBIENT, WHITE

# Albedo of a mesh without vertex colors: a light grey that shows the shading.
PLAIN_ALBEDO = 0.7


def render_views(mesh: Mesh, cameras: Cameras, resolution: int, rasterizer: Rasterizer) -> Tensor:
    """Shaded renders ``[B, 3, H, W]`` in [0, 1] of ``mesh`` from each of the B ``cameras``; an empty mesh
    gives background images."""
    cameras = cameras.to(mesh.device)
    albedo = mesh.vertex_colors if mesh.vertex_colors is not None else torch.full_like(mesh.vertices, PLAIN_ALBEDO)
    out = render_mesh(mesh.vertices, mesh.faces, cameras, resolution, rasterizer, attributes=albedo)
    light = torch.nn.functional.normalize(cameras.position(), dim=-1).to(mesh.vertices.dtype)
    background = torch.tensor(WHITE, dtype=mesh.vertices.dtype, device=mesh.device)
    shading = ViewShading(["lambertian"] * len(cameras), light, background, DEFAULT_AMBIENT)
    return shade_views(out.attributes, out.normal, out.mask, shading).clamp(0, 1)


def grid_rows(count: int) -> int:
    """Rows for a near-square grid of ``count`` equal tiles: the largest divisor not above its square root."""
    return max(rows for rows in range(1, math.isqrt(count) + 1) if count % rows == 0)


def save_grid(images: Tensor, path: Path) -> Path:
    """``[N, 3, H, W]`` -> one near-square PNG grid, row-major (e.g. 8 views as 2 rows of 4)."""
    image_grid(images, rows=grid_rows(images.shape[0])).save(path)
    return path


def save_gif(images: Tensor, path: Path, frame_ms: int) -> Path:
    """``[N, 3, H, W]`` -> an endlessly looping GIF, ``frame_ms`` milliseconds per frame."""
    if frame_ms <= 0:
        raise ValueError(f"frame_ms must be positive, got {frame_ms}")
    frames = [to_pil(image) for image in images]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return path


def save_filmstrip(images: Tensor, path: Path) -> Path:
    """``[N, 3, H, W]`` -> one PNG with the N images left to right."""
    image_grid(images, rows=1).save(path)
    return path
