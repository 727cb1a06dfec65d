"""The toy world's vocabulary: 8 analytic shapes x 8 colors (Toy64) with exact ground truth.

Every shape is an exact signed distance function (negative inside, world units), written after Inigo
Quilez' distance formulas; the convex polyhedra (pyramid, octahedron) use the exact distance to their
triangles. Sizes are chosen so that shapes differ by silhouette, not by size: each shape's largest
axis-aligned half-extent lies in ``[0.5, 0.6]`` (all inside ``[-0.8, 0.8]^3``):

===========  =====================================================================  ==============
shape        definition                                                             half-extents
===========  =====================================================================  ==============
sphere       radius 0.55                                                            0.55
cube         side 1.0, edges rounded with radius 0.05, axis-aligned                 0.5
cylinder     axis +Z, radius 0.55, height 0.6 (a squat disc, unlike the cube)       0.55 / 0.3
cone         axis +Z, base radius 0.45 at z = -0.55, apex up at z = +0.55           0.45 / 0.55
torus        ring radius 0.4, tube radius 0.15, axis horizontal along (1, 1, 0)     0.43 / 0.55
capsule      axis +Z, segment z in [-0.3, 0.3], radius 0.28                         0.28 / 0.58
pyramid      square base, half-side 0.55 at z = -0.4, apex up at z = +0.4           0.55 / 0.4
octahedron   vertices at +-0.6 on every axis                                        0.6
===========  =====================================================================  ==============

The torus stands up: lying in the XY plane it would look like a flat bar from the low elevations typical
cameras use. Its axis is horizontal at azimuth 45 degrees, so the front, side and back views (azimuths
0, 90, 180, 270 in any convention whose canonical views lie on the X and Y axes) all see the ring and
its hole, as an ellipse; only the views at azimuth 135 and 315 see it edge-on, where its silhouette is a
thin stadium (narrower than the capsule's).

Colors are saturated hues at least 25 degrees apart, so they stay distinct under Lambertian shading
(which scales RGB, keeping hue); names avoid a leading vowel so every prompt reads ``a {color} {shape}``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from atom.geometry import Mesh, marching_tetrahedra, tetrahedral_grid

SDF = Callable[[Tensor], Tensor]
"""A signed distance function: points ``[..., 3]`` -> distances ``[...]`` (world units, negative inside)."""


def _check_points(points: Tensor) -> None:
    if not isinstance(points, Tensor) or points.ndim < 1 or points.shape[-1] != 3:
        shape = list(points.shape) if isinstance(points, Tensor) else type(points).__name__
        raise ValueError(f"points must be a [..., 3] tensor, got {shape}")


def _length2(x: Tensor, y: Tensor) -> Tensor:
    return torch.sqrt(x * x + y * y)


def sphere_sdf(points: Tensor, radius: float) -> Tensor:
    """Sphere at the origin. points ``[..., 3]`` -> ``[...]``."""
    _check_points(points)
    return torch.linalg.vector_norm(points, dim=-1) - radius


def rounded_box_sdf(points: Tensor, half_size: float, rounding: float) -> Tensor:
    """Axis-aligned cube with half-side ``half_size`` whose edges are rounded with radius ``rounding``."""
    _check_points(points)
    q = points.abs() - (half_size - rounding)
    outside = torch.linalg.vector_norm(q.clamp_min(0.0), dim=-1)
    inside = q.amax(dim=-1).clamp_max(0.0)
    return outside + inside - rounding


def cylinder_sdf(points: Tensor, radius: float, half_height: float) -> Tensor:
    """Capped cylinder with axis +Z, centred at the origin."""
    _check_points(points)
    d_radial = _length2(points[..., 0], points[..., 1]) - radius
    d_axial = points[..., 2].abs() - half_height
    outside = _length2(d_radial.clamp_min(0.0), d_axial.clamp_min(0.0))
    inside = torch.maximum(d_radial, d_axial).clamp_max(0.0)
    return outside + inside


def _segment_distance_2d(px: Tensor, py: Tensor, a: tuple[float, float], b: tuple[float, float]) -> Tensor:
    """Distance from 2D points ``(px, py)`` to the segment ``a``-``b``."""
    ex, ey = b[0] - a[0], b[1] - a[1]
    t = (((px - a[0]) * ex + (py - a[1]) * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0)
    return _length2(px - a[0] - t * ex, py - a[1] - t * ey)


def cone_sdf(points: Tensor, base_radius: float, half_height: float) -> Tensor:
    """Solid cone, axis +Z: base disc of ``base_radius`` at ``z = -half_height``, apex at ``+half_height``.

    Exact: the distance in the (radial, z) half-plane to the cross-section's two boundary segments
    (base and slant; the axis itself is no boundary).
    """
    _check_points(points)
    radial = _length2(points[..., 0], points[..., 1])
    z = points[..., 2]
    base = _segment_distance_2d(radial, z, (0.0, -half_height), (base_radius, -half_height))
    slant = _segment_distance_2d(radial, z, (base_radius, -half_height), (0.0, half_height))
    # Inside: above the base and left of the slant line radial = base_radius * (h - z) / (2 h).
    inside = (z > -half_height) & (radial * 2.0 * half_height < base_radius * (half_height - z))
    distance = torch.minimum(base, slant)
    return torch.where(inside, -distance, distance)


def torus_sdf(
    points: Tensor, ring_radius: float, tube_radius: float, axis: tuple[float, float, float]
) -> Tensor:
    """Torus centred at the origin whose ring lies in the plane normal to ``axis`` (normalised here)."""
    _check_points(points)
    norm = math.sqrt(sum(a * a for a in axis))
    unit = torch.tensor([a / norm for a in axis], dtype=points.dtype, device=points.device)
    along = (points * unit).sum(dim=-1)
    from_axis = torch.linalg.vector_norm(points - along[..., None] * unit, dim=-1)
    return _length2(from_axis - ring_radius, along) - tube_radius


def capsule_sdf(points: Tensor, half_length: float, radius: float) -> Tensor:
    """Capsule around the segment from ``(0, 0, -half_length)`` to ``(0, 0, half_length)``."""
    _check_points(points)
    nearest_z = points[..., 2].clamp(-half_length, half_length)
    offset = torch.stack([points[..., 0], points[..., 1], points[..., 2] - nearest_z], dim=-1)
    return torch.linalg.vector_norm(offset, dim=-1) - radius


def convex_polyhedron_sdf(points: Tensor, vertices: Tensor, faces: Tensor) -> Tensor:
    """Exact SDF of a convex polyhedron given as a closed triangle mesh with outward faces.

    points ``[..., 3]``; vertices ``[V, 3]``; faces ``[F, 3]`` int64. Inside: the largest (least negative)
    plane distance, exact for convex solids because the nearest boundary point of an interior point is
    its projection on the nearest face plane. Outside: the distance to the nearest triangle. Cost is
    ``O(N F)``: meant for a handful of faces.
    """
    _check_points(points)
    tri = vertices.to(points)[faces]  # [F, 3 corners, 3]
    edge = tri.roll(-1, dims=1) - tri  # [F, 3, 3]: a->b, b->c, c->a
    normal = torch.linalg.cross(edge[:, 0], -edge[:, 2], dim=-1)
    normal = normal / torch.linalg.vector_norm(normal, dim=-1, keepdim=True)
    inward = torch.linalg.cross(normal[:, None, :].expand_as(edge), edge, dim=-1)  # in-plane, into the face

    flat = points.reshape(-1, 3)
    plane = flat @ normal.T - (tri[:, 0] * normal).sum(dim=-1)  # [N, F]
    distance = plane.amax(dim=-1)
    outside = distance >= 0.0
    relative = flat[outside][:, None, None, :] - tri  # [No, F, 3, 3]: point minus each edge's start
    # The projection falls inside a triangle iff the point is on the inner side of its three edges;
    # otherwise the nearest triangle point lies on an edge.
    projects_inside = ((relative * inward).sum(dim=-1) >= 0.0).all(dim=-1)  # [No, F]
    t = ((relative * edge).sum(dim=-1) / (edge * edge).sum(dim=-1)).clamp(0.0, 1.0)  # [No, F, 3]
    to_edges = torch.linalg.vector_norm(relative - t[..., None] * edge, dim=-1).amin(dim=-1)
    to_triangles = torch.where(projects_inside, plane[outside].abs(), to_edges)
    distance = distance.clone()
    distance[outside] = to_triangles.amin(dim=-1)
    return distance.reshape(points.shape[:-1])


_PYRAMID_VERTICES = torch.tensor(
    [[-0.55, -0.55, -0.4], [0.55, -0.55, -0.4], [0.55, 0.55, -0.4], [-0.55, 0.55, -0.4], [0.0, 0.0, 0.4]]
)
_PYRAMID_FACES = torch.tensor([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4], [0, 2, 1], [0, 3, 2]])

_OCTAHEDRON_VERTICES = 0.6 * torch.tensor(
    [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]
)
# One triangle per octant, counter-clockwise seen from outside.
_OCTAHEDRON_FACES = torch.tensor(
    [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]
)


@dataclass(frozen=True)
class ToyShape:
    """A named shape. ``sdf``: points ``[..., 3]`` -> signed distances ``[...]`` (exact, negative inside)."""

    name: str
    sdf: SDF


@dataclass(frozen=True)
class ToyColor:
    """A named color. ``rgb``: display (sRGB) values in ``[0, 1]``, as in renders and vertex colors."""

    name: str
    rgb: tuple[float, float, float]


SHAPES: tuple[ToyShape, ...] = (
    ToyShape("sphere", functools.partial(sphere_sdf, radius=0.55)),
    ToyShape("cube", functools.partial(rounded_box_sdf, half_size=0.5, rounding=0.05)),
    ToyShape("cylinder", functools.partial(cylinder_sdf, radius=0.55, half_height=0.3)),
    ToyShape("cone", functools.partial(cone_sdf, base_radius=0.45, half_height=0.55)),
    ToyShape("torus", functools.partial(torus_sdf, ring_radius=0.4, tube_radius=0.15, axis=(1.0, 1.0, 0.0))),
    ToyShape("capsule", functools.partial(capsule_sdf, half_length=0.3, radius=0.28)),
    ToyShape(
        "pyramid", functools.partial(convex_polyhedron_sdf, vertices=_PYRAMID_VERTICES, faces=_PYRAMID_FACES)
    ),
    ToyShape(
        "octahedron",
        functools.partial(convex_polyhedron_sdf, vertices=_OCTAHEDRON_VERTICES, faces=_OCTAHEDRON_FACES),
    ),
)

# Hues (degrees): red 0, brown 27, yellow 54, green 126, cyan 184, blue 228, purple 276, pink 330.
COLORS: tuple[ToyColor, ...] = (
    ToyColor("red", (0.85, 0.10, 0.10)),
    ToyColor("green", (0.15, 0.70, 0.20)),
    ToyColor("blue", (0.15, 0.30, 0.90)),
    ToyColor("yellow", (0.95, 0.87, 0.10)),
    ToyColor("purple", (0.55, 0.20, 0.80)),
    ToyColor("brown", (0.55, 0.30, 0.10)),
    ToyColor("pink", (1.00, 0.50, 0.75)),
    ToyColor("cyan", (0.10, 0.80, 0.85)),
)


@functools.lru_cache(maxsize=32)
def _shape_mesh(shape: ToyShape, resolution: int) -> Mesh:
    """The uncolored ground-truth surface of ``shape``, extracted once per resolution (CPU, float32)."""
    grid = tetrahedral_grid(resolution)
    return marching_tetrahedra(grid.vertices, grid.tets, shape.sdf(grid.vertices))


@dataclass(frozen=True)
class ToyObject:
    """One Toy64 prompt: a shape in a color."""

    shape: ToyShape
    color: ToyColor

    @property
    def prompt(self) -> str:
        """``"a {color} {shape}"``, e.g. ``"a red cube"``."""
        return f"a {self.color.name} {self.shape.name}"

    def sdf(self, points: Tensor) -> Tensor:
        """The shape's signed distance: points ``[..., 3]`` -> ``[...]``."""
        return self.shape.sdf(points)

    def ground_truth_mesh(self, resolution: int = 96) -> Mesh:
        """The surface by marching tetrahedra on a ``resolution``-cell grid over ``[-1, 1]^3``, colored.

        The geometry is cached in memory per shape and resolution and shared between colors and calls:
        treat the returned tensors as read-only.
        """
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
            raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
        surface = _shape_mesh(self.shape, resolution)
        rgb = torch.tensor(self.color.rgb, dtype=surface.vertices.dtype)
        return Mesh(surface.vertices, surface.faces, rgb.repeat(surface.num_vertices, 1))


def toy64() -> list[ToyObject]:
    """All 64 objects; index ``i * 8 + j`` is shape ``SHAPES[i]`` in color ``COLORS[j]``."""
    return [ToyObject(shape, color) for shape in SHAPES for color in COLORS]


def toy64_split() -> tuple[list[int], list[int]]:
    """``(train_indices, test_indices)`` into `toy64`: test is the diagonal (shape i in color i), 56 / 8."""
    diagonal = [i * len(COLORS) + i for i in range(len(SHAPES))]
    train = [index for index in range(len(SHAPES) * len(COLORS)) if index not in diagonal]
    return train, diagonal


def normalise_prompt(prompt: str) -> str:
    """Lower case, single spaces, no surrounding whitespace or trailing full stop."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a str, got {type(prompt).__name__}")
    return " ".join(prompt.lower().split()).rstrip(".").rstrip()


def find_object(prompt: str) -> ToyObject | None:
    """The Toy64 object whose prompt equals ``prompt`` once normalised; None outside the vocabulary."""
    return _OBJECTS_BY_PROMPT.get(normalise_prompt(prompt))


_OBJECTS_BY_PROMPT: dict[str, ToyObject] = {obj.prompt: obj for obj in toy64()}
