"""Rendered 3D data for CRM's reconstruction model in the toy world: posed, colored toy shapes.

An object is a Toy64 shape (:mod:`atom.toyworld.shapes`) with a continuous RGB color, a yaw about +Z and a
uniform scale: its surface is ``x = s R_z(yaw) x_0`` for ``x_0`` on the shape, its signed distance
``sdf(x) = s sdf_0(R_z(-yaw) x / s)``. With ``s`` in :data:`SCALE_RANGE` every shape stays inside
``[-0.9, 0.9]^3`` at any yaw (the widest reach is the pyramid's base corner, ``0.55 sqrt(2) * 1.15 = 0.89``).

Held-out rule (never drawn in training; :func:`is_held_out` is the single test, and the training sampler
draws by rejection against it):

1. Toy64 diagonal pairs: shape ``i`` with a color within :data:`DIAGONAL_RADIUS` (RGB Euclidean distance) of
   the named color ``COLORS[i]`` (the 8 unseen compositions of Toy64, with a ball around each).
2. Unseen colors: any shape with a color within :data:`UNSEEN_COLOR_RADIUS` of one of
   :data:`NUM_UNSEEN_COLORS` centres drawn once from ``torch.Generator().manual_seed(HOLDOUT_SEED)``
   (:func:`unseen_color_centres`).
3. Unseen yaws: ``yaw mod 90`` degrees in :data:`UNSEEN_YAW` (the interval and its copies every 90 degrees,
   so that the 4-fold symmetric shapes - cube, pyramid, octahedron - never see an equivalent pose either;
   for the solids of revolution yaw changes nothing, and the torus is 2-fold symmetric).

Training colors are uniform in ``[0, 1]^3``, yaws uniform in ``[0, 360)``, scales uniform in
:data:`SCALE_RANGE`, shapes uniform; a draw that hits the held-out set is drawn again (same generator).

The fixed evaluation set (:func:`held_out_objects`) has one object per shape in each held-out category:
diagonal (named color, seen yaw), unseen color (a centre, seen yaw) and unseen yaw (a seen color).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from atom.geometry import Mesh
from atom.render.cameras import Cameras
from atom.render.ccm import CRM_BACKGROUND
from atom.render.crm_tiles import crm_unet_input
from atom.render.crm_views import render_crm_views
from atom.render.fragments import Rasterizer
from atom.render.mesh_renderer import composite, render_mesh
from atom.toyworld.shapes import COLORS, SHAPES, _shape_mesh

SCALE_RANGE = (0.75, 1.15)
DIAGONAL_RADIUS = 0.15
UNSEEN_COLOR_RADIUS = 0.1
NUM_UNSEEN_COLORS = 4
HOLDOUT_SEED = 1234
UNSEEN_YAW = (35.0, 55.0)
"""Held-out yaw interval in degrees, taken modulo 90."""
SEEN_EVAL_YAW = 15.0
"""Yaw of the evaluation objects whose yaw is not the held-out part (degrees, outside :data:`UNSEEN_YAW`)."""
MAX_REJECTIONS = 1000


@dataclass(frozen=True)
class PosedObject:
    """A toy shape ``SHAPES[shape]`` in color ``color`` (RGB in [0, 1]), turned by ``yaw`` degrees about +Z
    and scaled by ``scale``; ``category`` names its evaluation group ("train" for training draws)."""

    shape: int
    color: tuple[float, float, float]
    yaw: float
    scale: float
    category: str = "train"

    @property
    def name(self) -> str:
        r, g, b = self.color
        return f"{SHAPES[self.shape].name} rgb({r:.2f},{g:.2f},{b:.2f}) yaw {self.yaw:.0f} x{self.scale:.2f}"

    def rotation(self) -> Tensor:
        """``[3, 3]`` rotation about +Z by ``yaw`` degrees (float32)."""
        c, s = math.cos(math.radians(self.yaw)), math.sin(math.radians(self.yaw))
        return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    def transform(self, points: Tensor) -> Tensor:
        """Shape frame -> world: ``s R x``; points ``[..., 3]``."""
        return self.scale * points @ self.rotation().to(points).T

    def sdf(self, points: Tensor) -> Tensor:
        """World signed distance at points ``[..., 3]`` -> ``[...]`` (negative inside)."""
        local = (points @ self.rotation().to(points)) / self.scale  # R^T x / s (row vectors)
        return self.scale * SHAPES[self.shape].sdf(local)

    def mesh(self, resolution: int) -> Mesh:
        """The ground-truth surface (marching tetrahedra at ``resolution``, cached per shape), posed and colored."""
        surface = _shape_mesh(SHAPES[self.shape], resolution)
        vertices = self.transform(surface.vertices)
        rgb = torch.tensor(self.color, dtype=vertices.dtype).expand(vertices.shape[0], 3)
        return Mesh(vertices, surface.faces, rgb.contiguous())


@functools.lru_cache(maxsize=1)
def unseen_color_centres() -> Tensor:
    """``[NUM_UNSEEN_COLORS, 3]`` held-out color centres, seed-fixed, each at least ``2 * UNSEEN_COLOR_RADIUS``
    from the cube's faces so that its whole ball is a color."""
    generator = torch.Generator().manual_seed(HOLDOUT_SEED)
    margin = 2 * UNSEEN_COLOR_RADIUS
    return margin + (1 - 2 * margin) * torch.rand(NUM_UNSEEN_COLORS, 3, generator=generator)


def in_unseen_yaw(yaw: float) -> bool:
    """True when ``yaw`` (degrees) modulo 90 lies in :data:`UNSEEN_YAW`."""
    folded = yaw % 90.0
    return UNSEEN_YAW[0] <= folded <= UNSEEN_YAW[1]


def is_held_out(shape: int, color: tuple[float, float, float] | Tensor, yaw: float) -> bool:
    """The held-out rule of the module docstring: True when a training draw must be rejected."""
    rgb = torch.as_tensor(color, dtype=torch.float32)
    if float(torch.linalg.vector_norm(rgb - torch.tensor(COLORS[shape].rgb))) <= DIAGONAL_RADIUS:
        return True
    if float(torch.linalg.vector_norm(unseen_color_centres() - rgb, dim=-1).min()) <= UNSEEN_COLOR_RADIUS:
        return True
    return in_unseen_yaw(yaw)


def sample_training_object(generator: torch.Generator) -> PosedObject:
    """One training object (module docstring), every draw from ``generator``; never held out."""
    for _ in range(MAX_REJECTIONS):
        shape = int(torch.randint(len(SHAPES), (1,), generator=generator))
        color = torch.rand(3, generator=generator)
        yaw, scale = torch.rand(2, generator=generator).tolist()
        yaw, scale = 360.0 * yaw, SCALE_RANGE[0] + (SCALE_RANGE[1] - SCALE_RANGE[0]) * scale
        if not is_held_out(shape, color, yaw):
            return PosedObject(shape, tuple(color.tolist()), yaw, scale)
    raise RuntimeError(f"no training object after {MAX_REJECTIONS} draws: the held-out set covers everything")


def held_out_objects() -> list[PosedObject]:
    """The fixed evaluation set: per shape, its diagonal pair, an unseen color and an unseen yaw (24)."""
    centres = unseen_color_centres()
    objects = []
    for index in range(len(SHAPES)):
        objects.append(PosedObject(index, COLORS[index].rgb, SEEN_EVAL_YAW, 1.0, "diagonal"))
    for index in range(len(SHAPES)):
        centre = tuple(centres[index % len(centres)].tolist())
        objects.append(PosedObject(index, centre, SEEN_EVAL_YAW, 1.0, "unseen color"))
    for index in range(len(SHAPES)):
        # a seen color: the named color of the next shape (an off-diagonal Toy64 pair)
        color = COLORS[(index + 1) % len(COLORS)].rgb
        objects.append(PosedObject(index, color, sum(UNSEEN_YAW) / 2, 1.0, "unseen yaw"))
    return objects


def render_unet_inputs(
    objects: list[PosedObject], tile_size: int, mesh_resolution: int, rasterizer: Rasterizer
) -> Tensor:
    """CRM's UNet input ``[B, 12, S, 3 S]`` of each object: its six views + CCMs rendered from the
    ground-truth mesh (:func:`atom.render.crm_views.render_crm_views`), tiled by ``crm_unet_input``."""
    rgb, ccm = [], []
    for obj in objects:
        mesh = obj.mesh(mesh_resolution)
        views = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, tile_size, rasterizer)
        rgb.append(views.rgb)
        ccm.append(views.ccm)
    return crm_unet_input(torch.stack(rgb), torch.stack(ccm))


@dataclass
class RenderedViews:
    """Unlit (albedo) renders of a mesh over a flat background, all ``[V, C, H, W]``.

    Attributes:
        rgb: [V, 3, H, W] vertex colors composited with the antialiased mask over the background.
        mask: [V, 1, H, W] antialiased coverage in [0, 1] (differentiable w.r.t. the vertices).
        depth: [V, 1, H, W] distance along the view axis, world units; 0 on background.
        hard_mask: [V, 1, H, W] 0/1 coverage of pixel centres.
    """

    rgb: Tensor
    mask: Tensor
    depth: Tensor
    hard_mask: Tensor


def render_albedo_views(
    mesh: Mesh, cameras: Cameras, resolution: int, rasterizer: Rasterizer, background: float = CRM_BACKGROUND
) -> RenderedViews:
    """The unlit color, mask and depth of ``mesh`` (with vertex colors) from each camera: the supervision
    targets (ground-truth meshes) and the predictions (reconstructed meshes) are rendered by this one path."""
    if mesh.vertex_colors is None:
        raise ValueError("render_albedo_views needs a mesh with vertex_colors")
    out = render_mesh(mesh.vertices, mesh.faces, cameras, resolution, rasterizer, attributes=mesh.vertex_colors)
    grey = torch.full((3,), background, dtype=mesh.vertices.dtype, device=mesh.vertices.device)
    return RenderedViews(composite(out.attributes, out.mask, grey), out.mask, out.depth, out.hard_mask)
