"""Bake a color field into a UV texture: rasterize the UV layout, query the colors at each texel's point.

The UV triangles are drawn with the project's rasterizer as if the atlas were the screen (clip coordinates
``(2u - 1, 2v - 1, 0, 1)``: an orthographic camera looking at the atlas), which gives, for every texel
centre inside a chart, its triangle and barycentrics; interpolating the 3D vertex positions with them gives
the surface point the texel shows. The color function (e.g. the model's color head) is evaluated
there, so the texture carries the field's own detail rather than vertex colors smeared across faces.
Texels outside every chart are filled by seam dilation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from atom.geometry.uv_texture import UVMesh, dilate
from atom.render import Rasterizer


def query_colors(color: Callable[[Tensor, Tensor], Tensor], triplane: Tensor, points: Tensor, device: torch.device,
                 chunk: int = 1 << 16) -> Tensor:
    """A model's color head ``color(triplanes [1, ...], points [1, M, 3]) -> [1, M, 3]`` for one triplane
    ``[3, C, S, S]`` at ``points [N, 3]`` (world units), ``chunk`` points at a time on ``device`` -> rgb
    ``[N, 3]`` in [0, 1] on the points' device and dtype; any N, including 0."""
    if points.dim() != 2 or points.shape[-1] != 3:
        raise ValueError(f"points must be [N, 3], got {list(points.shape)}")
    triplane = triplane[None].to(device)
    rgb = [color(triplane, part[None].to(device, triplane.dtype))[0].clamp(0, 1).to(points)
           for part in points.split(chunk)]
    return torch.cat(rgb) if rgb else points.new_zeros(0, 3)


def texel_points(mesh: UVMesh, resolution: int, rasterizer: Rasterizer) -> tuple[Tensor, Tensor]:
    """Surface points ``[H, W, 3]`` (world units) seen by the texel centres of a ``resolution``-square
    texture, and the coverage mask ``[H, W]`` (False outside every chart; its points are zero)."""
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    uv = mesh.uv.to(mesh.vertices.dtype)
    # NDC y = 1 is image row 0, and v = 1 is the texture's top row: no flip needed.
    clip = torch.cat([2 * uv - 1, torch.zeros_like(uv[:, :1]), torch.ones_like(uv[:, :1])], dim=1)[None]
    fragments = rasterizer.rasterize(clip, mesh.faces, (resolution, resolution))
    points = rasterizer.interpolate(mesh.vertices[None], fragments, mesh.faces)[0]
    covered = fragments.mask[0]
    return torch.where(covered[..., None], points, torch.zeros_like(points)), covered


def bake_texture(mesh: UVMesh, color: Callable[[Tensor], Tensor], resolution: int, rasterizer: Rasterizer,
                 dilation: int = 4) -> Tensor:
    """Texture ``[3, resolution, resolution]`` in [0, 1]: ``color(points [N, 3]) -> rgb [N, 3]`` at each
    covered texel's surface point, then ``dilation`` pixels of seam dilation."""
    points, covered = texel_points(mesh, resolution, rasterizer)
    texture = points.new_zeros(resolution, resolution, 3)
    texture[covered] = color(points[covered]).to(texture)
    return dilate(texture.permute(2, 0, 1), covered, dilation).clamp(0, 1)
