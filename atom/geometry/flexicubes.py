r"""FlexiCubes (Shen et al., SIGGRAPH 2023): a scalar field on a voxel grid -> a triangle mesh, differentiable
in the field, the grid deformation and three sets of per-cube weights.

Written here in pure PyTorch (no CUDA build, runs and is tested on the CPU). The tables are facts of the
method and follow NVIDIA's reference (github.com/nv-tlabs/FlexiCubes, ``flexicubes.py`` and ``tables.py``,
Apache-2.0; the same tables ship in kaolin) so that weights trained elsewhere (CRM's) mean the same here;
instead of copying the 256-case tables they are derived below from the rule that generates them, and
``tests/geometry/test_flexicubes.py`` checks the derivation against the reference's values.

Conventions
-----------
* Grid: N cubes per axis over ``[-bound, bound]^3``; lattice vertex ``(i, j, k)`` has flat index
  ``(i * (N+1) + j) * (N+1) + k`` (as the tetrahedral grid), cube ``(i, j, k)`` (its lowest corner) has
  flat index ``(i * N + j) * N + k``.
* Cube corner ``c`` (0..7) sits at offset ``(c & 1, (c >> 1) & 1, (c >> 2) & 1)`` (x fastest).
* The 12 cube edges, as corner pairs: e0 (0,1) e1 (1,5) e2 (4,5) e3 (0,4) e4 (2,3) e5 (3,7) e6 (6,7)
  e7 (2,6) e8 (2,0) e9 (3,1) e10 (7,5) e11 (6,4); ``beta[:, e]`` weighs edge e, ``alpha[:, c]`` corner c.
* Field: negative inside (``sdf < 0`` is inside; zero counts as outside); faces are counter-clockwise seen
  from outside, so normals point towards positive values.

The maths
---------
*Case.* A cube's case is ``sum_c 2^c [s_c < 0]``; cases 0 and 255 hold no surface. An edge is *crossed*
when its two corners disagree.

*Dual vertices per cube (the Dual Marching Cubes grouping).* On each cube face the crossed edges pair up
along the face's contour: around the single inside (or single outside) corner, or across a face with two
adjacent inside corners. A face whose inside corners are diagonal (ambiguous) is resolved by keeping the
inside corners apart: each inside corner's two edges pair up. The crossed edges of a cube, linked by these
pairs, fall into connected components; each component is one surface sheet through the cube and gets one
dual vertex (1 to 4 per cube). The reference resolves one more ambiguity (its "C16/C19" cases): a cube
with exactly one ambiguous face, more than four inside corners, and fewer sheets with inside corners kept
apart than with outside corners kept apart. When such a cube's neighbour across that ambiguous face is
such a cube too, both switch to the complementary grouping (outside corners kept apart, i.e. the grouping
of case ``255 - case``), so the two sides of the shared face agree.

*Weighted edge crossing.* For a crossed edge from corner a to corner b of a cube, with field values
``s_a, s_b`` (opposite signs) and the cube's corner weights ``alpha_a, alpha_b > 0``::

    u_e = (x_a * s_b * alpha_b - x_b * s_a * alpha_a) / (s_b * alpha_b - s_a * alpha_a)

the zero of the linear interpolation of ``alpha * s`` along the edge (``alpha = 1`` gives the plain
crossing ``z_e``). The denominator never vanishes: one end is strictly negative, the other not.

*Dual vertex.* Each dual vertex is the beta-weighted mean of the weighted crossings of its edge group::

    v_d = sum_{e in group} beta_e u_e / sum_{e in group} beta_e

*Quads.* Every crossed grid edge inside the grid is shared by four cubes; their four dual vertices (those
whose groups contain the edge) form a quad. Walking the cubes around the edge in the order that is
counter-clockwise about the edge's axis gives a normal along +axis; it is reversed where the field
decreases along +axis, so every face looks from negative (inside) towards positive (outside). Edges on
the grid's outer faces have fewer than four cubes and give no quad (as in the reference).

*Quad split (inference).* Each cube's ``gamma > 0`` is given to its dual vertices. A quad
``(v0, v1, v2, v3)`` is split along the diagonal v0-v2 when ``gamma_0 gamma_2 > gamma_1 gamma_3``, else along
v1-v3 (also on ties, so uniform weights always use v1-v3). This choice is discrete: no gradient reaches
gamma in inference mode.

*Quad split (training).* With ``training=True`` each quad gets a midpoint vertex::

    c = (gamma_02 (v0 + v2) / 2 + gamma_13 (v1 + v3) / 2) / (gamma_02 + gamma_13)

with ``gamma_02 = gamma_0 gamma_2`` and ``gamma_13 = gamma_1 gamma_3``, and four triangles fan around it, so
gradients reach every dual vertex of the quad and gamma.

*Weights.* Raw (unbounded) tensors are normalised inside, with ``weight_scale`` w in [0, 1)::

    beta = tanh(raw) * w + 1,  alpha = tanh(raw) * w + 1,  gamma = sigmoid(raw) * w + (1 - w) / 2

``None`` means raw zeros (beta = alpha = 1: dual vertices are centroids of the plain crossings; uniform
gamma).

*Regularisers.* ``L_dev`` (the paper's Eq. 8): for each dual vertex d and each of its edges e, the
distance ``r_de = |z_e - v_d|`` from the plain crossing; ``L_dev`` is the mean over all (d, e) of
``|r_de - mean_e r_de|``: zero when a dual vertex is equidistant from its crossings, so it discourages
vertices that drift to one side of their cube. `flexicubes_sign_loss` is the sign-change cross entropy on
grid edges (discourages spurious sign flips, i.e. floaters), `flexicubes_weight_loss` the L1 (or L2) size
of the raw weights.

Speed: only the cubes with a sign change are touched after the first pass; grid edges are keyed by their
lattice position (no sorting or unique over edges), the four cubes of a crossed edge are found by lattice
arithmetic, and there are no Python loops over cubes.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from atom.geometry.gather import gather_rows
from atom.geometry.lattice import check_grid_arguments, lattice_indices, lattice_points
from atom.geometry.mesh import Mesh

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------
# Tables (facts of the method; the 256-case ones derived from the rule in the module docstring)
# ---------------------------------------------------------------------------------------------------------

CUBE_CORNERS: tuple[tuple[int, int, int], ...] = tuple((c & 1, (c >> 1) & 1, (c >> 2) & 1) for c in range(8))
CUBE_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 5), (4, 5), (0, 4), (2, 3), (3, 7), (6, 7), (2, 6), (2, 0), (3, 1), (7, 5), (6, 4),
)  # fmt: skip


def _cube_faces() -> list[tuple[int, int, list[int]]]:
    """The 6 faces as (axis, side, 4 corners in cyclic order around the face)."""
    faces = []
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3
        for side in (0, 1):
            cycle = [(0, 0), (1, 0), (1, 1), (0, 1)]
            faces.append((axis, side, [(side << axis) | (du << u) | (dv << v) for du, dv in cycle]))
    return faces


_EDGE_OF_CORNERS = {frozenset(edge): index for index, edge in enumerate(CUBE_EDGES)}


def _face_edges(corners: list[int]) -> list[int]:
    """The cube edges around a face, edge i joining ``corners[i]`` and ``corners[i + 1]``."""
    return [_EDGE_OF_CORNERS[frozenset((corners[i], corners[(i + 1) % 4]))] for i in range(4)]


def _ambiguous_faces(case: int) -> list[tuple[int, int]]:
    """(axis, side) of the faces of ``case`` whose inside corners are diagonal."""
    inside = [(case >> c) & 1 for c in range(8)]
    return [
        (axis, side)
        for axis, side, corners in _cube_faces()
        if [inside[c] for c in corners] in ([1, 0, 1, 0], [0, 1, 0, 1])
    ]


def _edge_groups(case: int, keep_apart_inside: bool = True) -> list[list[int]]:
    """The crossed edges of ``case`` grouped into surface sheets (one dual vertex each), by lowest edge.

    Two crossed edges of one face are linked when the face's contour joins them; an ambiguous face links
    the two edges around each inside corner (``keep_apart_inside``) or around each outside corner.
    """
    inside = [(case >> c) & 1 for c in range(8)]
    crossed = [e for e, (a, b) in enumerate(CUBE_EDGES) if inside[a] != inside[b]]
    parent = {e: e for e in crossed}

    def root(e: int) -> int:
        while parent[e] != e:
            e = parent[e]
        return e

    for _, _, corners in _cube_faces():
        edges = _face_edges(corners)
        face_crossed = [e for e in edges if e in parent]
        if len(face_crossed) == 2:
            parent[root(face_crossed[0])] = root(face_crossed[1])
        elif len(face_crossed) == 4:
            for i, corner in enumerate(corners):  # corner i lies between edges i - 1 and i
                if inside[corner] == int(keep_apart_inside):
                    parent[root(edges[i - 1])] = root(edges[i])
    groups: dict[int, list[int]] = {}
    for e in crossed:
        groups.setdefault(root(e), []).append(e)
    return sorted(groups.values())


def _build_case_tables() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``[256, 12]`` group of each edge (-1: not crossed), ``[256]`` groups per case, ``[256]`` ambiguity
    flag and ``[256, 3]`` lattice offset of the neighbour across the ambiguous face."""
    edge_group = torch.full((256, 12), -1, dtype=torch.long)
    group_count = torch.zeros(256, dtype=torch.long)
    ambiguous = torch.zeros(256, dtype=torch.bool)
    neighbour = torch.zeros(256, 3, dtype=torch.long)
    for case in range(256):
        groups = _edge_groups(case)
        group_count[case] = len(groups)
        for index, group in enumerate(groups):
            edge_group[case, group] = index
        faces = _ambiguous_faces(case)
        if (
            len(faces) == 1
            and bin(case).count("1") > 4
            and len(groups) < len(_edge_groups(case, keep_apart_inside=False))
        ):
            axis, side = faces[0]
            ambiguous[case] = True
            neighbour[case, axis] = 1 if side else -1
    return edge_group, group_count, ambiguous, neighbour


_EDGE_GROUP, _GROUP_COUNT, _AMBIGUOUS, _AMBIGUOUS_NEIGHBOUR = _build_case_tables()
_EDGE_CORNERS = torch.tensor(CUBE_EDGES, dtype=torch.long)  # [12, 2]

# For a crossed grid edge along `axis` and its four cubes in counter-clockwise order about +axis: the
# (du, dv) steps back along the two other axes (u, v) = (axis + 1, axis + 2) mod 3, and the local edge.
_QUAD_STEPS = ((0, 0), (1, 0), (1, 1), (0, 1))


def _quad_local_edges(axis: int) -> list[int]:
    u, v = (axis + 1) % 3, (axis + 2) % 3
    local = []
    for du, dv in _QUAD_STEPS:
        start = (du << u) | (dv << v)
        local.append(_EDGE_OF_CORNERS[frozenset((start, start | (1 << axis)))])
    return local


_QUAD_LOCAL_EDGES = torch.tensor([_quad_local_edges(axis) for axis in range(3)], dtype=torch.long)  # [3, 4]

# ---------------------------------------------------------------------------------------------------------
# The voxel grid
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class VoxelGrid:
    """A cube lattice filling ``[-bound, bound]^3``; shared and cached, so never edit it in place.

    vertices: ``[(N+1)^3, 3]`` float32 lattice points (flat index ``(i * (N+1) + j) * (N+1) + k``).
    cubes: ``[N^3, 8]`` int64 vertex indices of each cube's corners in corner order (module docstring);
        cube ``(i, j, k)`` is row ``(i * N + j) * N + k``.
    resolution: N, cubes per axis.
    bound: half the side of the grid, world units.
    """

    vertices: Tensor
    cubes: Tensor
    resolution: int
    bound: float

    @property
    def cell_size(self) -> float:
        """Edge length of one cube in world units (``2 * bound / N``)."""
        return 2.0 * self.bound / self.resolution

    @property
    def device(self) -> torch.device:
        return self.vertices.device

    def to(self, device: torch.device | str) -> VoxelGrid:
        return VoxelGrid(self.vertices.to(device), self.cubes.to(device), self.resolution, self.bound)

    @classmethod
    def build(cls, resolution: int, bound: float = 1.0) -> VoxelGrid:
        """Build the grid on the CPU, uncached (prefer `voxel_grid`, which caches)."""
        check_grid_arguments(resolution, bound)
        side = resolution + 1
        origins = lattice_indices((resolution, resolution, resolution), side)  # [N^3] lowest corners
        cubes = origins[:, None] + _corner_steps(side)[None, :]
        return cls(lattice_points(resolution, bound), cubes, resolution, float(bound))


def _corner_steps(side: int) -> Tensor:
    """``[8]`` flat-index offset of each cube corner from the cube's lowest corner."""
    return torch.tensor([(dx * side + dy) * side + dz for dx, dy, dz in CUBE_CORNERS], dtype=torch.long)


@functools.lru_cache(maxsize=4)
def _cached_grid(resolution: int, bound: float, device: torch.device) -> VoxelGrid:
    if device.type == "cpu":
        return VoxelGrid.build(resolution, bound)
    return _cached_grid(resolution, bound, torch.device("cpu")).to(device)


def voxel_grid(resolution: int, bound: float = 1.0, device: torch.device | str | None = None) -> VoxelGrid:
    """The cached voxel grid with ``resolution`` cubes per axis over ``[-bound, bound]^3`` on ``device``.

    Grids are shared between callers (a small LRU cache per resolution, bound and device): read-only.
    """
    check_grid_arguments(resolution, bound)
    device = torch.device("cpu") if device is None else torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return _cached_grid(resolution, float(bound), device)


# ---------------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class FlexiCubesOutput:
    """mesh: the extracted surface; deviation: scalar ``L_dev`` (0 for an empty mesh), differentiable."""

    mesh: Mesh
    deviation: Tensor


def flexicubes(
    grid: VoxelGrid,
    sdf: Tensor,
    beta: Tensor | None = None,
    alpha: Tensor | None = None,
    gamma: Tensor | None = None,
    deformation: Tensor | None = None,
    *,
    weight_scale: float = 0.5,
    training: bool = False,
) -> FlexiCubesOutput:
    """Extract the zero level set of ``sdf`` on ``grid`` as a mesh with outward faces.

    grid: the voxel grid (N cubes per axis).
    sdf: ``[(N+1)^3]`` field per grid vertex, negative inside.
    beta: ``[N^3, 12]`` raw edge weights, alpha: ``[N^3, 8]`` raw corner weights, gamma: ``[N^3]`` raw split
        weights; each optional (None: raw zeros), normalised inside with ``weight_scale`` in [0, 1).
    deformation: optional ``[(N+1)^3, 3]`` offsets of the grid vertices in world units.
    training: split each quad into four triangles around a gamma-weighted midpoint (gradients reach every
        weight) instead of two along the gamma-chosen diagonal.

    Returns the mesh (float64 when ``sdf`` is float64, else float32) and the deviation loss ``L_dev``. An
    all-inside or all-outside field gives an empty mesh, a zero deviation and a logged warning.
    """
    n = grid.resolution
    check_flexicubes_inputs(grid, sdf, beta, alpha, gamma, deformation, weight_scale)
    dtype = torch.promote_types(sdf.dtype, torch.float32)
    device = sdf.device
    side = n + 1
    positions = grid.vertices.to(dtype)
    if deformation is not None:
        positions = positions + deformation.to(dtype)
    sdf = sdf.to(dtype)
    inside = (sdf < 0).view(side, side, side)

    cases = _cube_cases(inside)  # [N, N, N] uint8
    surface = torch.nonzero(((cases != 0) & (cases != 255)).view(-1))[:, 0]  # [S] flat cube indices
    if surface.shape[0] == 0:
        return _empty_output(sdf, "the field has no sign change")
    case = _resolve_ambiguous_cases(cases, surface)  # [S] int64

    # One row per (surface cube, crossed edge): which dual vertex it feeds and the edge's two grid vertices.
    edge_group = gather_rows(_EDGE_GROUP.to(device), case)  # [S, 12]
    pair = torch.nonzero(edge_group.view(-1) >= 0)[:, 0]  # [P] = cube position * 12 + local edge
    cube_position, local_edge = pair // 12, pair % 12
    group_count = gather_rows(_GROUP_COUNT.to(device), case)
    first_dual = torch.cumsum(group_count, 0) - group_count  # [S] index of each cube's first dual vertex
    num_dual = int(group_count.sum())
    pair_dual = gather_rows(first_dual, cube_position) + edge_group.view(-1).index_select(0, pair)

    cube_index = gather_rows(surface, cube_position)  # [P]
    corner_a, corner_b = gather_rows(_EDGE_CORNERS.to(device), local_edge).unbind(1)
    origin = gather_rows(_cube_origin_vertex(surface, n), cube_position)
    steps = _corner_steps(side).to(device)
    vertex_a, vertex_b = origin + gather_rows(steps, corner_a), origin + gather_rows(steps, corner_b)
    s_a, s_b = gather_rows(sdf, vertex_a)[:, None], gather_rows(sdf, vertex_b)[:, None]
    x_a, x_b = gather_rows(positions, vertex_a), gather_rows(positions, vertex_b)

    plain_crossing = (x_a * s_b - x_b * s_a) / (s_b - s_a)  # [P, 3]
    if alpha is None:
        weighted_crossing = plain_crossing
    else:
        alpha_a = _normalise(_pick(alpha, cube_index, corner_a, 8, dtype), weight_scale)[:, None]
        alpha_b = _normalise(_pick(alpha, cube_index, corner_b, 8, dtype), weight_scale)[:, None]
        weighted_crossing = (x_a * (s_b * alpha_b) - x_b * (s_a * alpha_a)) / (s_b * alpha_b - s_a * alpha_a)

    if beta is None:
        edge_weight = torch.ones_like(s_a)
    else:
        edge_weight = _normalise(_pick(beta, cube_index, local_edge, 12, dtype), weight_scale)[:, None]
    weight_sum = torch.zeros(num_dual, 1, dtype=dtype, device=device).index_add(0, pair_dual, edge_weight)
    dual = torch.zeros(num_dual, 3, dtype=dtype, device=device).index_add(
        0, pair_dual, edge_weight * weighted_crossing
    )
    dual = dual / weight_sum
    deviation = _deviation_loss(dual, plain_crossing, pair_dual)

    quads, quad_cube_position = _quads(inside, surface, edge_group, first_dual, n)
    if quads.shape[0] == 0:
        return _empty_output(sdf, "no sign change away from the grid's outer faces")
    if gamma is None:
        corner_gamma = torch.ones(quads.shape, dtype=dtype, device=device)
    else:
        surface_gamma = _normalise_gamma(gather_rows(gamma, surface).to(dtype), weight_scale)
        corner_gamma = gather_rows(surface_gamma, quad_cube_position)  # [Q, 4]
    gamma_02 = corner_gamma[:, 0] * corner_gamma[:, 2]
    gamma_13 = corner_gamma[:, 1] * corner_gamma[:, 3]

    if training:
        vertices, faces = _split_quads_training(dual, quads, gamma_02, gamma_13)
    else:
        vertices, faces = _drop_unused(dual, _split_quads(quads, gamma_02 > gamma_13))
    return FlexiCubesOutput(mesh=Mesh(vertices=vertices, faces=faces), deviation=deviation)


def _cube_cases(inside: Tensor) -> Tensor:
    """``[N, N, N]`` uint8 case of every cube from the ``[N+1, N+1, N+1]`` inside flags."""
    n = inside.shape[0] - 1
    corners = inside.to(torch.uint8)
    cases = torch.zeros(n, n, n, dtype=torch.uint8, device=inside.device)
    for corner, (dx, dy, dz) in enumerate(CUBE_CORNERS):
        cases += corners[dx : dx + n, dy : dy + n, dz : dz + n] << corner
    return cases


def _resolve_ambiguous_cases(cases: Tensor, surface: Tensor) -> Tensor:
    """``[S]`` int64 cases of the surface cubes, with the reference's face-ambiguity resolution applied."""
    device = cases.device
    n = cases.shape[0]
    case = gather_rows(cases.view(-1), surface).long()
    ambiguous = torch.nonzero(gather_rows(_AMBIGUOUS.to(device), case))[:, 0]
    if ambiguous.shape[0] == 0:
        return case
    cube = gather_rows(surface, ambiguous)
    coords = _cube_coords(cube, n)
    neighbour = coords + gather_rows(_AMBIGUOUS_NEIGHBOUR.to(device), gather_rows(case, ambiguous))
    in_grid = ((neighbour >= 0) & (neighbour < n)).all(dim=1)
    ambiguous, neighbour = ambiguous[in_grid], neighbour[in_grid]
    neighbour_flat = (neighbour[:, 0] * n + neighbour[:, 1]) * n + neighbour[:, 2]
    neighbour_case = gather_rows(cases.view(-1), neighbour_flat).long()
    both = ambiguous[gather_rows(_AMBIGUOUS.to(device), neighbour_case)]
    return case.index_put((both,), 255 - gather_rows(case, both))


def _cube_coords(cube: Tensor, n: int) -> Tensor:
    """``[M, 3]`` lattice coordinates (i, j, k) of the flat cube indices ``cube [M]``."""
    return torch.stack([cube // (n * n), (cube // n) % n, cube % n], dim=1)


def _cube_origin_vertex(cube: Tensor, n: int) -> Tensor:
    """Flat grid-vertex index of the lowest corner of each flat cube index in ``cube``."""
    side = n + 1
    i, j, k = _cube_coords(cube, n).unbind(1)
    return (i * side + j) * side + k


def _pick(weights: Tensor, cube: Tensor, column: Tensor, width: int, dtype: torch.dtype) -> Tensor:
    """``weights[cube, column]`` for a ``[N^3, width]`` tensor, as ``[P]`` in ``dtype``."""
    return weights.reshape(-1).index_select(0, cube * width + column).to(dtype)


def _normalise(raw: Tensor, weight_scale: float) -> Tensor:
    """beta / alpha from raw values: ``tanh(raw) * weight_scale + 1``, in ``[1 - w, 1 + w]``."""
    return torch.tanh(raw) * weight_scale + 1


def _normalise_gamma(raw: Tensor, weight_scale: float) -> Tensor:
    """gamma from raw values: ``sigmoid(raw) * weight_scale + (1 - weight_scale) / 2``, positive."""
    return torch.sigmoid(raw) * weight_scale + (1 - weight_scale) / 2


def _deviation_loss(dual: Tensor, crossing: Tensor, pair_dual: Tensor) -> Tensor:
    """``L_dev``: mean over (dual vertex d, edge e) of ``| |z_e - v_d| - mean_e |z_e - v_d| |``."""
    distance = torch.linalg.vector_norm(crossing - gather_rows(dual, pair_dual), dim=-1)  # [P]
    count = torch.zeros(dual.shape[0], dtype=dual.dtype, device=dual.device).index_add(
        0, pair_dual, torch.ones_like(distance)
    )
    total = torch.zeros_like(count).index_add(0, pair_dual, distance)
    return (distance - gather_rows(total / count, pair_dual)).abs().mean()


def _quads(
    inside: Tensor, surface: Tensor, edge_group: Tensor, first_dual: Tensor, n: int
) -> tuple[Tensor, Tensor]:
    """``[Q, 4]`` dual-vertex quads (outward, counter-clockwise) of the crossed interior grid edges, and
    ``[Q, 4]`` the surface-cube position of each quad corner.

    Each crossed grid edge is found once, in the cube for which it is the edge through the lowest corner
    along its axis (e0, e8 or e3); the other three cubes are that cube stepped back along the two other
    axes. Edges with a lattice coordinate 0 on one of those axes lie on the grid's outer faces: no quad.
    """
    device = inside.device
    surface_position = torch.full((n**3,), -1, dtype=torch.int32, device=device)
    surface_position[surface] = torch.arange(surface.shape[0], dtype=torch.int32, device=device)
    coords = _cube_coords(surface, n)  # [S, 3]
    origin_inside = inside.view(-1).index_select(0, _cube_origin_vertex(surface, n))  # [S]
    quad_steps = torch.tensor(_QUAD_STEPS, dtype=torch.long, device=device)  # [4, 2]
    quads, positions = [], []
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3
        lowest_edge = _QUAD_LOCAL_EDGES[axis, 0].item()
        found = (edge_group[:, lowest_edge] >= 0) & (coords[:, u] > 0) & (coords[:, v] > 0)
        own = torch.nonzero(found)[:, 0]  # [Q] surface positions
        if own.shape[0] == 0:
            continue
        base = gather_rows(coords, own)
        steps = torch.zeros(4, 3, dtype=torch.long, device=device)
        steps[:, u], steps[:, v] = quad_steps[:, 0], quad_steps[:, 1]
        cube_coords = base[:, None, :] - steps[None]  # [Q, 4, 3]
        cube = (cube_coords[..., 0] * n + cube_coords[..., 1]) * n + cube_coords[..., 2]
        position = gather_rows(surface_position, cube).long()
        local = _QUAD_LOCAL_EDGES[axis].to(device)[None, :].expand_as(position)
        group = edge_group.view(-1).index_select(0, (position * 12 + local).reshape(-1)).view_as(position)
        quad = gather_rows(first_dual, position) + group
        # Counter-clockwise about +axis; reverse where the field decreases along +axis (low end outside).
        reverse = ~gather_rows(origin_inside, own)
        order = torch.tensor([0, 3, 2, 1], device=device)
        quads.append(torch.where(reverse[:, None], quad.index_select(1, order), quad))
        positions.append(torch.where(reverse[:, None], position.index_select(1, order), position))
    if not quads:
        empty = torch.zeros(0, 4, dtype=torch.long, device=device)
        return empty, empty
    return torch.cat(quads), torch.cat(positions)


def _split_quads(quads: Tensor, along_02: Tensor) -> Tensor:
    """``[2Q, 3]`` triangles: each quad split along v0-v2 where ``along_02`` else along v1-v3."""
    split_02 = quads[:, [0, 1, 2, 0, 2, 3]]
    split_13 = quads[:, [0, 1, 3, 1, 2, 3]]
    return torch.where(along_02[:, None], split_02, split_13).view(-1, 3)


def _split_quads_training(
    dual: Tensor, quads: Tensor, gamma_02: Tensor, gamma_13: Tensor
) -> tuple[Tensor, Tensor]:
    """Vertices (dual vertices, then one midpoint per quad) and ``[4Q, 3]`` triangles fanned around it."""
    v0, v1, v2, v3 = (gather_rows(dual, quads[:, corner]) for corner in range(4))  # each [Q, 3]
    middle_02 = (v0 + v2) / 2
    middle_13 = (v1 + v3) / 2
    centre = (gamma_02[:, None] * middle_02 + gamma_13[:, None] * middle_13) / (gamma_02 + gamma_13)[:, None]
    centre_index = torch.arange(quads.shape[0], device=quads.device) + dual.shape[0]
    rim = torch.stack([quads, quads.roll(-1, dims=1)], dim=-1)  # [Q, 4, 2] consecutive corners
    faces = torch.cat([rim, centre_index[:, None, None].expand(-1, 4, 1)], dim=-1).view(-1, 3)
    vertices, faces = _drop_unused(torch.cat([dual, centre]), faces)
    return vertices, faces


def _drop_unused(vertices: Tensor, faces: Tensor) -> tuple[Tensor, Tensor]:
    """Remove vertices no face uses (dual vertices whose edges all lie on the grid's outer faces)."""
    used = torch.zeros(vertices.shape[0], dtype=torch.bool, device=vertices.device)
    used[faces.view(-1)] = True
    if bool(used.all()):
        return vertices, faces
    new_index = torch.cumsum(used.long(), 0) - 1
    return vertices[used], gather_rows(new_index, faces)


def _empty_output(sdf: Tensor, reason: str) -> FlexiCubesOutput:
    logger.warning(
        "flexicubes: %s (values in [%.4g, %.4g]); returning an empty mesh",
        reason,
        float(sdf.detach().min()),
        float(sdf.detach().max()),
    )
    mesh = Mesh.empty(device=sdf.device, dtype=sdf.dtype)
    return FlexiCubesOutput(mesh=mesh, deviation=(sdf * 0).sum())


def check_flexicubes_inputs(
    grid: VoxelGrid,
    sdf: Tensor,
    beta: Tensor | None,
    alpha: Tensor | None,
    gamma: Tensor | None,
    deformation: Tensor | None,
    weight_scale: float,
) -> None:
    """Raise a ValueError naming the expected shape (or the bad value) for any bad `flexicubes` input."""
    if not isinstance(grid, VoxelGrid):
        raise ValueError(f"grid must be a VoxelGrid (see voxel_grid()), got {type(grid).__name__}")
    n = grid.resolution
    num_vertices, num_cubes = (n + 1) ** 3, n**3
    expected = {
        "sdf": (sdf, (num_vertices,), "one value per grid vertex"),
        "beta": (beta, (num_cubes, 12), "12 edge weights per cube"),
        "alpha": (alpha, (num_cubes, 8), "8 corner weights per cube"),
        "gamma": (gamma, (num_cubes,), "one split weight per cube"),
        "deformation": (deformation, (num_vertices, 3), "one offset per grid vertex"),
    }
    for name, (value, shape, meaning) in expected.items():
        if value is None:
            continue
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise ValueError(f"{name} must be a floating point tensor, got {_describe(value)}")
        if tuple(value.shape) != shape:
            raise ValueError(
                f"{name} must have shape {list(shape)} ({meaning}, grid resolution {n}), got {list(value.shape)}"
            )
        if value.device != grid.device:
            raise ValueError(f"{name} is on {value.device} but the grid on {grid.device}")
        _check_finite(name, value)
    if isinstance(weight_scale, bool) or not isinstance(weight_scale, (int, float)) or not 0 <= weight_scale < 1:
        raise ValueError(f"weight_scale must be a number in [0, 1), got {weight_scale!r}")


def _check_finite(name: str, value: Tensor) -> None:
    """Raise on NaN or inf; a sum is the fast test (it is finite when every value is, barring overflow)."""
    value = value.detach()
    if bool(torch.isfinite(value.sum())):
        return
    non_finite = int((~torch.isfinite(value)).sum())
    if non_finite:
        raise ValueError(f"{name} has {non_finite} non-finite values (NaN or inf) out of {value.numel()}")


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"{value.dtype} tensor {list(value.shape)}"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------------------
# Regularisers
# ---------------------------------------------------------------------------------------------------------


def flexicubes_sign_loss(grid: VoxelGrid, sdf: Tensor) -> Tensor:
    """Sign-change cross entropy over the grid edges whose ends disagree in sign (the paper's ``L_sign``).

    For such an edge (a, b): ``BCE(sigmoid(s_a), [s_b >= 0]) + BCE(sigmoid(s_b), [s_a >= 0])``, averaged over
    the edges (0 when there are none). It pulls each end's value towards the other end's sign, removing
    sign flips the rendering losses cannot see (floaters, inner sheets).
    sdf: ``[(N+1)^3]`` as for `flexicubes`.
    """
    check_flexicubes_inputs(grid, sdf, None, None, None, None, 0.5)
    side = grid.resolution + 1
    field = sdf.view(side, side, side)
    firsts, seconds = [], []
    for axis in range(3):
        first, second = field.narrow(axis, 0, side - 1), field.narrow(axis, 1, side - 1)
        crossed = (first < 0) != (second < 0)
        firsts.append(first[crossed])
        seconds.append(second[crossed])
    first, second = torch.cat(firsts), torch.cat(seconds)
    if first.numel() == 0:
        return (sdf * 0).sum()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return bce(first, (second >= 0).to(sdf.dtype)) + bce(second, (first >= 0).to(sdf.dtype))


def flexicubes_weight_loss(
    beta: Tensor | None, alpha: Tensor | None, gamma: Tensor | None, *, p: int = 1
) -> Tensor:
    """Mean ``|raw|^p`` over all given raw weights (p = 1: L1 as in the reference's examples; p = 2: L2).

    Zero at the default weights (raw 0); keeps the weights from wandering where the image losses do not
    constrain them. At least one tensor must be given.
    """
    if p not in (1, 2):
        raise ValueError(f"p must be 1 (L1) or 2 (L2), got {p!r}")
    given = [w.reshape(-1) for w in (beta, alpha, gamma) if w is not None]
    if not given:
        raise ValueError("flexicubes_weight_loss needs at least one of beta, alpha, gamma")
    values = torch.cat(given)
    return values.abs().mean() if p == 1 else values.square().mean()
