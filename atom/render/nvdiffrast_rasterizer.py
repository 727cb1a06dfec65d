"""nvdiffrast backend (Laine et al. 2020): the same interface as the PyTorch rasterizer, on CUDA.

Used only when ``import nvdiffrast.torch`` works; nothing else in the package needs it. nvdiffrast puts
image row 0 at NDC y = -1 (the bottom); the clip-space y is negated before rasterizing so that row 0 is the
top, as everywhere else in ``atom.render``. Not exercised by the CPU test suite.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atom.render.fragments import Fragments
from atom.render.torch_rasterizer import broadcast_attributes, check_mesh_inputs

FLIP_Y = (1.0, -1.0, 1.0, 1.0)


class NvdiffrastRasterizer:
    """Rasterizer on nvdiffrast's CUDA rasterizer (``context="cuda"``) or its OpenGL one (``"gl"``)."""

    def __init__(self, context: str = "cuda") -> None:
        if context not in ("cuda", "gl"):
            raise ValueError(f"context must be 'cuda' or 'gl', got {context!r}")
        try:
            import nvdiffrast.torch as dr  # noqa: PLC0415 (optional dependency)
        except ImportError as error:
            raise ImportError(
                "the 'nvdiffrast' rasterizer backend needs the nvdiffrast package (and CUDA); "
                "use the 'torch' backend without it"
            ) from error

        self._dr = dr
        self.context = context
        self._contexts: dict[torch.device, object] = {}

    def _context(self, device: torch.device) -> object:
        if device not in self._contexts:
            make = self._dr.RasterizeCudaContext if self.context == "cuda" else self._dr.RasterizeGLContext
            self._contexts[device] = make(device=device)
        return self._contexts[device]

    @staticmethod
    def _flipped(clip_vertices: Tensor) -> Tensor:
        return (clip_vertices * clip_vertices.new_tensor(FLIP_Y)).contiguous()

    def rasterize(self, clip_vertices: Tensor, faces: Tensor, resolution: tuple[int, int]) -> Fragments:
        """Visible triangle, barycentrics and depth per pixel; see :class:`Fragments`."""
        height, width = check_mesh_inputs(clip_vertices, faces, resolution)
        faces_int = faces.int().contiguous()
        raw, _ = self._dr.rasterize(
            self._context(clip_vertices.device), self._flipped(clip_vertices), faces_int, (height, width)
        )
        u, v = raw[..., 0], raw[..., 1]
        covered = raw[..., 3] > 0
        # nvdiffrast interpolates a0 * u + a1 * v + a2 * (1 - u - v).
        barycentrics = torch.stack([u, v, 1.0 - u - v], -1) * covered[..., None]
        w, _ = self._dr.interpolate(clip_vertices[..., 3:4].contiguous(), raw, faces_int)
        depth = torch.where(covered, w[..., 0], torch.full_like(w[..., 0], float("inf")))
        return Fragments(triangle_id=raw[..., 3].long() - 1, barycentrics=barycentrics, depth=depth, raw=raw)

    def interpolate(self, attributes: Tensor, fragments: Fragments, faces: Tensor) -> Tensor:
        """Per-vertex ``attributes`` [B or 1, V, C] at each pixel, [B, H, W, C]; zeros on background."""
        attributes = broadcast_attributes(attributes, fragments.triangle_id.shape[0])
        values, _ = self._dr.interpolate(attributes.contiguous(), fragments.raw, faces.int().contiguous())
        return values

    def antialias(self, image: Tensor, fragments: Fragments, clip_vertices: Tensor, faces: Tensor) -> Tensor:
        """nvdiffrast's silhouette antialiasing of ``image`` [B, H, W, C]."""
        return self._dr.antialias(
            image.contiguous(), fragments.raw, self._flipped(clip_vertices), faces.int().contiguous()
        )
