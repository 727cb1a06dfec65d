"""The two rendering stages of AToM's training step, amortized over a batch of prompts.

Both take a batch of triplanes ``[B, 3, C, R, R]`` and ``B * V`` cameras (V views per prompt, prompt-major)
and return shaded images ``[B * V, 3, H, W]`` in [0, 1] plus their regularisers:

- stage 1: NeuS volume rendering of the SDF/colour fields at low resolution (deformation head unused);
- stage 2: DMTet marching tetrahedra per prompt (SDF + bounded deformation on the tet grid), then
  rasterization at the higher resolution, colour queried at the rasterized surface points.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import Tensor

from atom.geometry import TetrahedralGrid
from atom.model import TriplaneGenerator
from atom.render import Cameras, NeuSRenderer, Rasterizer, render_mesh, shade
from atom.render.field import FieldSamples
from atom.text_to_mesh import triplanes_to_meshes
from atom.training.regularizers import eikonal_loss, laplacian_loss, normal_consistency_loss

logger = logging.getLogger(__name__)

SHADING_MODES = ("albedo", "lambertian", "textureless")


@dataclass
class Views:
    """How the ``B * V`` views of one step are lit and shaded (prompt-major order)."""

    cameras: Cameras
    shading: list[str]  # one of SHADING_MODES per view
    light_directions: Tensor  # [B * V, 3] unit, world
    background: Tensor  # [3] in [0, 1]
    ambient: float


@dataclass
class StageOutput:
    images: Tensor  # [B * V, 3, H, W] in [0, 1]
    losses: dict[str, Tensor] = field(default_factory=dict)  # unweighted regularisers
    empty_prompts: list[int] = field(default_factory=list)  # batch positions whose mesh vanished (stage 2)
    valid_views: Tensor | None = None  # [B * V] bool: False for views of empty meshes


def _shade_views(albedo: Tensor, normal: Tensor, coverage: Tensor, views: Views, premultiplied: bool) -> Tensor:
    """Shade each view with its own mode, then composite over the background.

    albedo/normal ``[N, 3, H, W]``, coverage ``[N, 1, H, W]``. Volume rendering gives albedo already
    multiplied by coverage (``premultiplied``); Lambertian shading is linear in albedo, so shading the
    premultiplied albedo gives the premultiplied colour. Textureless is Lambertian on a white albedo
    (premultiplied: the coverage itself). Returns ``[N, 3, H, W]``.
    """
    out = torch.empty_like(albedo)
    albedo_hw, normal_hw = albedo.permute(0, 2, 3, 1), normal.permute(0, 2, 3, 1)
    coverage_hw = coverage.permute(0, 2, 3, 1)
    for mode in set(views.shading):
        idx = torch.tensor([i for i, m in enumerate(views.shading) if m == mode], device=albedo.device)
        light = views.light_directions[idx][:, None, None, :]
        colour = albedo_hw[idx]
        if mode == "textureless":
            colour = coverage_hw[idx].expand_as(colour) if premultiplied else torch.ones_like(colour)
            mode = "lambertian"
        shaded = shade(colour, normal_hw[idx], light, mode=mode, ambient=views.ambient)
        if not premultiplied:
            shaded = shaded * coverage_hw[idx]
        out[idx] = shaded.permute(0, 3, 1, 2)
    return out + views.background.to(albedo)[None, :, None, None] * (1.0 - coverage)


def render_stage1(
    generator: TriplaneGenerator,
    triplanes: Tensor,
    neus: NeuSRenderer,
    views: Views,
    resolution: int,
) -> StageOutput:
    """NeuS-render every prompt's field from its V cameras at ``resolution`` px."""
    batch = triplanes.shape[0]
    n_views = len(views.cameras) // batch
    origins, directions = views.cameras.rays(resolution, resolution)  # [B*V, H*W, 3]
    pixels = resolution * resolution
    origins = origins.reshape(batch, n_views * pixels, 3)
    directions = directions.reshape(batch, n_views * pixels, 3)

    def field_fn(points: Tensor) -> FieldSamples:
        sdf, gradient = generator.sdf_and_gradient(triplanes, points)
        return FieldSamples(sdf=sdf, gradient=gradient, rgb=generator.color(triplanes, points))

    black = torch.zeros(3, device=triplanes.device)
    # over black: albedo premultiplied by opacity; the up-sampling pass needs only SDF values
    out = neus(field_fn, origins, directions, black, coarse_sdf=lambda p: generator.sdf(triplanes, p))

    def to_image(x: Tensor) -> Tensor:  # [B, V*H*W, C] -> [B*V, C, H, W]
        c = x.shape[-1]
        return x.reshape(batch * n_views, resolution, resolution, c).permute(0, 3, 1, 2)

    albedo, opacity = to_image(out["rgb"]), to_image(out["opacity"])
    normal = torch.nn.functional.normalize(to_image(out["normal"]), dim=1)
    images = _shade_views(albedo, normal, opacity, views, premultiplied=True)
    return StageOutput(images=images.clamp(0, 1), losses={"eikonal": eikonal_loss(out["gradients"])})


def render_stage2(
    generator: TriplaneGenerator,
    triplanes: Tensor,
    grid: TetrahedralGrid,
    rasterizer: Rasterizer,
    views: Views,
    resolution: int,
) -> StageOutput:
    """Extract each prompt's mesh and rasterize it from its V cameras at ``resolution`` px."""
    batch = triplanes.shape[0]
    n_views = len(views.cameras) // batch
    meshes = triplanes_to_meshes(generator, triplanes, grid, colour=False)
    device = triplanes.device
    images = []
    valid = torch.ones(batch * n_views, dtype=torch.bool, device=device)
    empty, normal_terms, laplace_terms, recovery_terms = [], [], [], []
    background = views.background.to(device)[None, :, None, None]
    for b, mesh in enumerate(meshes):
        view_slice = slice(b * n_views, (b + 1) * n_views)
        if mesh.is_empty:
            empty.append(b)
            valid[view_slice] = False
            images.append(background.expand(n_views, 3, resolution, resolution) + triplanes[b].sum() * 0.0)
            # an empty mesh gets no SDS gradient, so pull its SDF back towards the initial sphere
            sdf = generator.sdf(triplanes[b : b + 1], grid.vertices[None])[0]
            sphere = grid.vertices.norm(dim=-1) - generator.config.sphere_radius
            recovery_terms.append(((sdf - sphere) ** 2).mean())
            continue
        cams = views.cameras[view_slice]
        raster = render_mesh(mesh.vertices, mesh.faces, cams, resolution, rasterizer)
        points = raster.position.permute(0, 2, 3, 1).reshape(1, -1, 3)
        albedo = generator.color(triplanes[b : b + 1], points).reshape(n_views, resolution, resolution, 3)
        sub_views = Views(cams, views.shading[view_slice], views.light_directions[view_slice],
                          views.background, views.ambient)
        images.append(_shade_views(albedo.permute(0, 3, 1, 2), raster.normal, raster.mask, sub_views,
                                   premultiplied=False))
        normal_terms.append(normal_consistency_loss(mesh.vertices, mesh.faces))
        laplace_terms.append(laplacian_loss(mesh.vertices, mesh.faces))
    zero = triplanes.sum() * 0.0
    losses = {
        "normal_consistency": torch.stack(normal_terms).mean() if normal_terms else zero,
        "laplacian": torch.stack(laplace_terms).mean() if laplace_terms else zero,
        "empty_recovery": torch.stack(recovery_terms).sum() / batch if recovery_terms else zero,
    }
    return StageOutput(torch.cat(images).clamp(0, 1), losses, empty, valid)
