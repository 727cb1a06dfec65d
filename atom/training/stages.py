"""The two rendering stages of AToM's training step, amortized over a batch of prompts.

Both take a batch of triplanes ``[B, 3, C, R, R]`` and ``B * V`` cameras (V views per prompt, prompt-major)
and return shaded images ``[B * V, 3, H, W]`` in [0, 1] (through the one view shader,
``atom.render.view_shader``) plus their regularisers:

- stage 1: NeuS volume rendering of the SDF/color fields at low resolution (deformation head unused);
- stage 2: mesh extraction per prompt, DMTet (marching tetrahedra: SDF + bounded deformation on the tet
  grid) or FlexiCubes (a voxel grid: also the weight head's per-cube weights, and FlexiCubes' own
  regularisers), then rasterization at the higher resolution, color queried at the rasterized surface
  points.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import Tensor

from atom.geometry import TetrahedralGrid, VoxelGrid
from atom.model import TextToMeshModel, extract_triplanes
from atom.model.mesh_extraction import FLEXICUBES_LOSSES
from atom.render import Cameras, NeuSRenderer, Rasterizer, ViewShading, render_mesh, shade_views
from atom.render.field import FieldSamples
from atom.training.regularizers import eikonal_loss, laplacian_loss, normal_consistency_loss

logger = logging.getLogger(__name__)


@dataclass
class Views:
    """The ``B * V`` views of one step (prompt-major order): cameras and how each view is shaded."""

    cameras: Cameras
    shading: ViewShading

    def __getitem__(self, index: slice) -> Views:
        return Views(self.cameras[index], self.shading[index])


@dataclass
class StageOutput:
    images: Tensor  # [B * V, 3, H, W] in [0, 1]
    losses: dict[str, Tensor] = field(default_factory=dict)  # unweighted regularisers
    empty_prompts: list[int] = field(default_factory=list)  # batch positions whose mesh vanished (stage 2)


def render_stage1(
    model: TextToMeshModel,
    triplanes: Tensor,
    neus: NeuSRenderer,
    views: Views,
    resolution: int,
) -> StageOutput:
    """NeuS-render every prompt's field from its V cameras at ``resolution`` px. Losses: ``eikonal``, and
    ``opacity``, the mean accumulated opacity of the pixels (a sparsity term: it pulls free space empty)."""
    batch = triplanes.shape[0]
    n_views = len(views.cameras) // batch
    origins, directions = views.cameras.rays(resolution, resolution)  # [B*V, H*W, 3]
    pixels = resolution * resolution
    origins = origins.reshape(batch, n_views * pixels, 3)
    directions = directions.reshape(batch, n_views * pixels, 3)

    def field_fn(points: Tensor) -> FieldSamples:
        sdf, gradient = model.sdf_and_gradient(triplanes, points)
        return FieldSamples(sdf=sdf, gradient=gradient, rgb=model.color(triplanes, points))

    black = torch.zeros(3, device=triplanes.device)
    # over black: albedo premultiplied by opacity; the up-sampling pass needs only SDF values
    out = neus(field_fn, origins, directions, black, coarse_sdf=lambda p: model.sdf(triplanes, p))

    def to_image(x: Tensor) -> Tensor:  # [B, V*H*W, C] -> [B*V, C, H, W]
        c = x.shape[-1]
        return x.reshape(batch * n_views, resolution, resolution, c).permute(0, 3, 1, 2)

    albedo, opacity = to_image(out["rgb"]), to_image(out["opacity"])
    normal = torch.nn.functional.normalize(to_image(out["normal"]), dim=1)
    images = shade_views(albedo, normal, opacity, views.shading, premultiplied=True)
    losses = {"eikonal": eikonal_loss(out["gradients"]), "opacity": opacity.mean()}
    return StageOutput(images=images.clamp(0, 1), losses=losses)


def render_stage2(
    model: TextToMeshModel,
    triplanes: Tensor,
    grid: TetrahedralGrid | VoxelGrid,
    rasterizer: Rasterizer,
    views: Views,
    resolution: int,
    backend: str = "torch",
) -> StageOutput:
    """Extract each prompt's mesh (DMTet on a tetrahedral grid, FlexiCubes on a voxel grid, on ``backend``) and
    rasterize it from its V cameras at ``resolution`` px. With FlexiCubes the losses also hold its
    regularisers (``FLEXICUBES_LOSSES``), averaged over the prompts."""
    batch = triplanes.shape[0]
    n_views = len(views.cameras) // batch
    extractions = extract_triplanes(model, triplanes, grid, color=False, backend=backend)
    meshes = [out.mesh for out in extractions]
    device = triplanes.device
    images = []
    empty, normal_terms, laplace_terms, recovery_terms = [], [], [], []
    background = views.shading.background.to(device)[None, :, None, None]
    for b, mesh in enumerate(meshes):
        view_slice = slice(b * n_views, (b + 1) * n_views)
        if mesh.is_empty:
            empty.append(b)
            images.append(background.expand(n_views, 3, resolution, resolution) + triplanes[b].sum() * 0.0)
            # an empty mesh gets no SDS gradient, so pull its SDF back towards the initial sphere
            sdf = model.sdf(triplanes[b : b + 1], grid.vertices[None])[0]
            sphere = grid.vertices.norm(dim=-1) - model.config.sphere_radius
            recovery_terms.append(((sdf - sphere) ** 2).mean())
            continue
        raster = render_mesh(mesh.vertices, mesh.faces, views.cameras[view_slice], resolution, rasterizer)
        points = raster.position.permute(0, 2, 3, 1).reshape(1, -1, 3)
        albedo = model.color(triplanes[b : b + 1], points).reshape(n_views, resolution, resolution, 3)
        images.append(shade_views(albedo.permute(0, 3, 1, 2), raster.normal, raster.mask,
                                  views.shading[view_slice]))
        normal_terms.append(normal_consistency_loss(mesh.vertices, mesh.faces))
        laplace_terms.append(laplacian_loss(mesh.vertices, mesh.faces))
    zero = triplanes.sum() * 0.0
    losses = {
        "normal_consistency": torch.stack(normal_terms).mean() if normal_terms else zero,
        "laplacian": torch.stack(laplace_terms).mean() if laplace_terms else zero,
        "empty_recovery": torch.stack(recovery_terms).sum() / batch if recovery_terms else zero,
    }
    if isinstance(grid, VoxelGrid):
        for name in FLEXICUBES_LOSSES:
            losses[name] = torch.stack([out.losses[name] for out in extractions]).mean()
    return StageOutput(torch.cat(images).clamp(0, 1), losses, empty)
