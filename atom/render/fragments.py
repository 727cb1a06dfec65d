"""What a rasterizer hands back, and the interface every rasterizer backend implements.

Clip space follows :meth:`atom.render.cameras.Cameras.world_to_clip` (OpenGL): a vertex ``(x, y, z, w)``
lands at NDC ``(x / w, y / w)``; images have row 0 at the top (NDC y = +1), as :meth:`Cameras.rays`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor


@dataclass
class Fragments:
    """The visible triangle per pixel.

    Attributes:
        triangle_id: [B, H, W] int64 index into ``faces``; -1 on background.
        barycentrics: [B, H, W, 3] perspective-correct weights of the triangle's three vertices (they
            interpolate world-space attributes); differentiable w.r.t. the clip-space vertices; zeros on
            background.
        depth: [B, H, W] camera-space depth, i.e. clip ``w`` = distance along the view axis in world units;
            differentiable; +inf on background.
        raw: backend-specific raster output that the backend's own ``antialias``/``interpolate`` need
            (nvdiffrast's [B, H, W, 4] ``rast`` tensor); None for the PyTorch backend.
    """

    triangle_id: Tensor
    barycentrics: Tensor
    depth: Tensor
    raw: Tensor | None = None

    @property
    def mask(self) -> Tensor:
        """[B, H, W] bool, True where a triangle covers the pixel centre."""
        return self.triangle_id >= 0


class Rasterizer(Protocol):
    """A differentiable triangle rasterizer (see :func:`atom.render.rasterizer.make_rasterizer`)."""

    def rasterize(self, clip_vertices: Tensor, faces: Tensor, resolution: tuple[int, int]) -> Fragments:
        """Visible triangle per pixel of ``clip_vertices`` [B, V, 4], ``faces`` [F, 3] at (H, W)."""
        ...

    def interpolate(self, attributes: Tensor, fragments: Fragments, faces: Tensor) -> Tensor:
        """Per-vertex ``attributes`` [B or 1, V, C] at each pixel, [B, H, W, C]; zeros on background."""
        ...

    def antialias(self, image: Tensor, fragments: Fragments, clip_vertices: Tensor, faces: Tensor) -> Tensor:
        """Blend ``image`` [B, H, W, C] across silhouette edges so that it is differentiable w.r.t. the
        silhouette's vertex positions; [B, H, W, C]."""
        ...
