"""Differentiable marching tetrahedra (DMTet, Shen et al. 2021): SDF on a tetrahedral grid -> triangle mesh.

The usual table approach, vectorised over tetrahedra: a vertex is inside when its SDF is negative; each
tetrahedron whose vertices disagree yields one triangle (1 vs 3 inside) or two (2 vs 2) whose corners sit
on its sign-changing edges, at the linear zero crossing of the SDF. Positions are differentiable with
respect to both the SDF values and the grid vertex positions (DMTet's deformation).
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from atom.geometry.gather import gather_rows
from atom.geometry.mesh import Mesh, edge_keys
from atom.geometry.tetrahedral_grid import TetrahedralGrid

logger = logging.getLogger(__name__)

# Local edges of a tetrahedron (v0, v1, v2, v3): e0..e5.
_TET_EDGES = torch.tensor([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]], dtype=torch.long)

# Triangles per case, as local edge indices; case = sum of 2**i over the inside vertices i. Written for a
# positively oriented tetrahedron so that each triangle is counter-clockwise seen from the outside (its
# normal points from the inside vertices to the outside ones); -1 pads cases with a single triangle.
# One inside vertex i: the edges from i, in the order of the tetrahedron face opposite i (which faces away
# from i); three inside: the same, reversed. Two inside: the quad of the four crossing edges, split in two.
_TRIANGLE_TABLE = torch.tensor(
    [
        [-1, -1, -1, -1, -1, -1],  # 0: all outside
        [0, 1, 2, -1, -1, -1],  # 1: v0 inside
        [0, 4, 3, -1, -1, -1],  # 2: v1
        [1, 2, 4, 1, 4, 3],  # 3: v0 v1
        [1, 3, 5, -1, -1, -1],  # 4: v2
        [0, 3, 5, 0, 5, 2],  # 5: v0 v2
        [0, 4, 5, 0, 5, 1],  # 6: v1 v2
        [2, 4, 5, -1, -1, -1],  # 7: v0 v1 v2
        [2, 5, 4, -1, -1, -1],  # 8: v3
        [0, 5, 4, 0, 1, 5],  # 9: v0 v3
        [0, 5, 3, 0, 2, 5],  # 10: v1 v3
        [1, 5, 3, -1, -1, -1],  # 11: v0 v1 v3
        [1, 4, 2, 1, 3, 4],  # 12: v2 v3
        [0, 3, 4, -1, -1, -1],  # 13: v0 v2 v3
        [0, 2, 1, -1, -1, -1],  # 14: v1 v2 v3
        [-1, -1, -1, -1, -1, -1],  # 15: all inside
    ],
    dtype=torch.long,
)
_TRIANGLES_PER_CASE = torch.tensor([0, 1, 1, 2, 1, 2, 2, 1, 1, 2, 2, 1, 2, 1, 1, 0], dtype=torch.long)


def marching_tetrahedra(
    vertices: Tensor, tets: Tensor, sdf: Tensor, *, orientation_vertices: Tensor | None = None
) -> Mesh:
    """Extract the zero level set of ``sdf`` as a mesh with outward (towards positive SDF) faces.

    vertices: ``[Nv, 3]`` grid vertex positions (world units; may be deformed, may require grad).
    tets: ``[Nt, 4]`` integer vertex indices; either orientation is accepted, per tetrahedron.
    sdf: ``[Nv]`` signed distance per vertex, negative inside (may require grad).
    orientation_vertices: optional ``[Nv, 3]`` positions that decide each tetrahedron's orientation
        (default ``vertices``). Pass the undeformed grid so that a deformation which inverts a tetrahedron
        folds the surface there instead of flipping its faces against their neighbours.

    Returns a mesh with one vertex per sign-changing grid edge (shared by all tetrahedra on that edge),
    except that where a grid vertex has an SDF of exactly zero, the crossings on its edges all coincide
    with it and are merged into one vertex (their zero-area faces dropped). Without any sign change,
    returns `Mesh.empty` and logs a warning.
    """
    _check_inputs(vertices, tets, sdf)
    if orientation_vertices is None:
        orientation_vertices = vertices
    elif orientation_vertices.shape != vertices.shape:
        raise ValueError(
            f"orientation_vertices must match vertices {list(vertices.shape)}, "
            f"got {list(orientation_vertices.shape)}"
        )
    dtype = torch.promote_types(vertices.dtype, sdf.dtype)
    vertices, sdf, tets = vertices.to(dtype), sdf.to(dtype), tets.long()
    device = sdf.device
    num_vertices = vertices.shape[0]

    inside = sdf < 0
    # Only tetrahedra with mixed signs can hold surface; everything after this works on those few.
    # This is the one pass over all tetrahedra, so keep it lean: gather one byte per corner and read each
    # tetrahedron's 4 bytes as one int32, which is 0 when all are outside and 0x01010101 when all inside.
    corners_inside = gather_rows(inside.to(torch.uint8), tets)  # [Nt, 4]
    packed = corners_inside.view(torch.int32).squeeze(1)
    surface = torch.nonzero((packed != 0) & (packed != 0x01010101))[:, 0]
    if surface.shape[0] == 0:
        _warn_no_surface(sdf)
        return Mesh.empty(device=device, dtype=dtype)
    surface_tets = gather_rows(tets, surface)
    case = (gather_rows(corners_inside, surface).long() << torch.arange(4, device=device)).sum(dim=1)

    # Unique grid edges of the surface tetrahedra, and for each tetrahedron which unique edge is which.
    local_edges = surface_tets.index_select(1, _TET_EDGES.to(device).reshape(-1)).view(-1, 6, 2)
    first, second = local_edges.unbind(dim=-1)
    keys = edge_keys(first, second, num_vertices)
    unique_keys, tet_edge_to_edge = torch.unique(keys, return_inverse=True)  # [E], [M, 6]
    edge_a, edge_b = unique_keys // num_vertices, unique_keys % num_vertices
    crossing = torch.nonzero(gather_rows(inside, edge_a) != gather_rows(inside, edge_b))[:, 0]
    edge_a, edge_b = gather_rows(edge_a, crossing), gather_rows(edge_b, crossing)
    # Orient each crossing edge from its inside end a to its outside end b.
    a_inside = gather_rows(inside, edge_a)
    a = torch.where(a_inside, edge_a, edge_b)
    b = torch.where(a_inside, edge_b, edge_a)
    edge_to_vertex = torch.full_like(unique_keys, -1)
    edge_to_vertex.index_copy_(0, crossing, torch.arange(crossing.shape[0], device=device))

    sdf_a, sdf_b = gather_rows(sdf, a), gather_rows(sdf, b)
    # sdf_a < 0 <= sdf_b, so the gap is positive; the floor only guards both ends sitting at ~zero, where
    # the crossing is ill-defined anyway, against huge or infinite values and gradients.
    gap = (sdf_b - sdf_a).clamp_min(torch.finfo(dtype).eps)
    t = (-sdf_a / gap).unsqueeze(-1)  # in (0, 1]
    x_a, x_b = gather_rows(vertices, a), gather_rows(vertices, b)
    positions = x_a + t * (x_b - x_a)

    faces, tet_of_face = _faces_from_table(case, tet_edge_to_edge, edge_to_vertex)
    # The table assumes positive orientation; reverse the triangles of negatively oriented tetrahedra.
    with torch.no_grad():
        v0, v1, v2, v3 = gather_rows(orientation_vertices.detach(), surface_tets).unbind(dim=1)
        orientation = (torch.linalg.cross(v1 - v0, v2 - v0, dim=-1) * (v3 - v0)).sum(dim=-1)  # 6 x volume
    flip = gather_rows(orientation, tet_of_face) < 0
    faces = torch.where(flip[:, None], faces.index_select(1, torch.tensor([0, 2, 1], device=device)), faces)

    mesh_vertices, faces = _merge_zero_vertices(positions, faces, b, sdf_b, num_vertices)
    if faces.shape[0] == 0:
        _warn_no_surface(sdf)
        return Mesh.empty(device=device, dtype=dtype)
    return Mesh(vertices=mesh_vertices, faces=faces)


def extract_mesh(grid: TetrahedralGrid, sdf: Tensor, deformation: Tensor | None = None) -> Mesh:
    """Marching tetrahedra on ``grid`` with vertices moved by ``deformation``.

    sdf: ``[Nv]`` per grid vertex; deformation: optional ``[Nv, 3]`` offsets in world units.
    """
    vertices = grid.vertices
    if deformation is not None:
        if deformation.shape != vertices.shape:
            raise ValueError(
                f"deformation must be [{vertices.shape[0]}, 3] (one offset per grid vertex), "
                f"got {list(deformation.shape)}"
            )
        vertices = vertices + deformation
    # The grid's own tetrahedra are all positively oriented; judging orientation on the undeformed grid
    # keeps the winding consistent even where a large deformation inverts a tetrahedron.
    return marching_tetrahedra(vertices, grid.tets, sdf, orientation_vertices=grid.vertices)


def _check_inputs(vertices: Tensor, tets: Tensor, sdf: Tensor) -> None:
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not vertices.is_floating_point():
        raise ValueError(
            f"vertices must be a floating point [Nv, 3] tensor, got {list(vertices.shape)} {vertices.dtype}"
        )
    if tets.ndim != 2 or tets.shape[1] != 4 or tets.is_floating_point() or tets.dtype == torch.bool:
        raise ValueError(f"tets must be an integer [Nt, 4] tensor, got {list(tets.shape)} {tets.dtype}")
    if sdf.shape != (vertices.shape[0],) or not sdf.is_floating_point():
        raise ValueError(
            f"sdf must be a floating point [{vertices.shape[0]}] tensor (one value per vertex), "
            f"got {list(sdf.shape)} {sdf.dtype}"
        )
    if not (vertices.device == tets.device == sdf.device):
        raise ValueError(
            f"vertices, tets and sdf must share a device, got {vertices.device}, {tets.device}, {sdf.device}"
        )
    non_finite = int((~torch.isfinite(sdf)).sum())
    if non_finite:
        raise ValueError(f"sdf has {non_finite} non-finite values (NaN or inf) out of {sdf.shape[0]}")


def _warn_no_surface(sdf: Tensor) -> None:
    if sdf.numel() == 0:
        logger.warning("marching tetrahedra: the SDF is empty; returning an empty mesh")
    else:
        logger.warning(
            "marching tetrahedra: the SDF has no zero crossing (values in [%.4g, %.4g]); "
            "returning an empty mesh",
            float(sdf.detach().min()),
            float(sdf.detach().max()),
        )


def _faces_from_table(
    case: Tensor, tet_edge_to_edge: Tensor, edge_to_vertex: Tensor
) -> tuple[Tensor, Tensor]:
    """``[F, 3]`` mesh vertex indices and ``[F]`` the surface tetrahedron each face comes from.

    Every surface tetrahedron's first triangle comes first, then the second triangles of those with two.
    """
    device = case.device
    table = gather_rows(_TRIANGLE_TABLE.to(device), case)  # [M, 6] local edges
    two = torch.nonzero(gather_rows(_TRIANGLES_PER_CASE.to(device), case) == 2)[:, 0]
    tet_of_face = torch.cat([torch.arange(case.shape[0], device=device), two])
    local = torch.cat([table[:, :3], gather_rows(table[:, 3:], two)])
    edges = torch.gather(gather_rows(tet_edge_to_edge, tet_of_face), 1, local)
    return gather_rows(edge_to_vertex, edges), tet_of_face


def _merge_zero_vertices(
    positions: Tensor, faces: Tensor, outside_end: Tensor, sdf_outside: Tensor, num_grid_vertices: int
) -> tuple[Tensor, Tensor]:
    """Merge the crossings that sit exactly on a zero-SDF grid vertex into one mesh vertex.

    They coincide in space, so keeping them apart would leave duplicate vertices and zero-area faces
    (analytic SDFs hit exact zeros on lattice points). Faces that collapse are dropped, vertices left
    unused removed.
    """
    at_zero = sdf_outside == 0
    if not bool(at_zero.any()):
        return positions, faces
    device = positions.device
    # One key per mesh vertex: the grid vertex for zero crossings, otherwise a distinct id per edge.
    crossing_ids = torch.arange(positions.shape[0], device=device)
    keys = torch.where(at_zero, outside_end, num_grid_vertices + crossing_ids)
    _, merged = torch.unique(keys, return_inverse=True)
    faces = gather_rows(merged, faces)
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    faces = faces[keep]
    # Renumber to the vertices still used; each takes the position of its lowest-numbered crossing.
    used, faces = torch.unique(faces, return_inverse=True)
    representative = torch.full((int(merged.max()) + 1,), positions.shape[0], dtype=torch.long, device=device)
    representative = representative.scatter_reduce(0, merged, crossing_ids, "amin")
    return gather_rows(positions, gather_rows(representative, used)), faces
