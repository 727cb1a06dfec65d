"""The regular tetrahedral grid DMTet extracts its surface from.

Built in code rather than loaded from a file (as nvdiffrec/kaolin ship theirs) so any resolution is
available, deterministic and needs no data download. Every cube cell is split into 6 tetrahedra along its
main diagonal (Kuhn/Freudenthal split); the split is the same in every cell, so neighbouring cells share
whole triangles and the complex is conforming.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from atom.geometry.lattice import check_grid_arguments, lattice_indices, lattice_points


@dataclass(frozen=True, eq=False)
class TetrahedralGrid:
    """A tetrahedralised lattice filling ``[-bound, bound]^3``; shared and cached, so never edit it in place.

    vertices: ``[(N+1)^3, 3]`` float32 lattice points; vertex ``(i, j, k)`` (x, y, z lattice indices) has
        index ``(i * (N+1) + j) * (N+1) + k``.
    tets: ``[6 N^3, 4]`` int64 vertex indices, each tetrahedron positively oriented
        (``det(v1 - v0, v2 - v0, v3 - v0) > 0``).
    edges: ``[Ne, 2]`` int64, every tetrahedron edge once, each row ascending (``a < b``).
    resolution: N, cells per axis.
    bound: half the side of the cube, world units.
    """

    vertices: Tensor
    tets: Tensor
    edges: Tensor
    resolution: int
    bound: float

    @property
    def cell_size(self) -> float:
        """Edge length of one cube cell in world units (``2 * bound / N``)."""
        return 2.0 * self.bound / self.resolution

    @property
    def device(self) -> torch.device:
        return self.vertices.device

    def to(self, device: torch.device | str) -> TetrahedralGrid:
        return TetrahedralGrid(
            vertices=self.vertices.to(device),
            tets=self.tets.to(device),
            edges=self.edges.to(device),
            resolution=self.resolution,
            bound=self.bound,
        )

    @classmethod
    def build(cls, resolution: int, bound: float = 1.0) -> TetrahedralGrid:
        """Build the grid on the CPU, uncached (prefer `tetrahedral_grid`, which caches)."""
        check_grid_arguments(resolution, bound)
        n, side = resolution, resolution + 1
        vertices = lattice_points(resolution, bound)

        def offset(dx: int, dy: int, dz: int) -> int:
            return (dx * side + dy) * side + dz

        # Kuhn split: one tetrahedron per axis order (a, b, c), walking 000 -> e_a -> e_a + e_b -> 111.
        templates = []
        for order in itertools.permutations(range(3)):
            corner = [0, 0, 0]
            path = [offset(*corner)]
            for axis_index in order:
                corner[axis_index] = 1
                path.append(offset(*corner))
            if _permutation_is_odd(order):  # odd axis orders are negatively oriented: swap to fix
                path[1], path[2] = path[2], path[1]
            templates.append(path)
        template = torch.tensor(templates, dtype=torch.long)  # [6, 4]

        cell_origin = lattice_indices((n, n, n), side)
        tets = (cell_origin[:, None, None] + template[None]).reshape(-1, 4)

        # The Kuhn edges are exactly the lattice steps by a non-zero 0/1 vector d (p -> p + d), which keeps
        # them unique and ascending without sorting 6 * 6 N^3 candidates.
        edge_blocks = []
        for d in itertools.product((0, 1), repeat=3):
            if d == (0, 0, 0):
                continue
            start = lattice_indices((side - d[0], side - d[1], side - d[2]), side)
            edge_blocks.append(torch.stack([start, start + offset(*d)], dim=1))
        edges = torch.cat(edge_blocks)

        return cls(vertices=vertices, tets=tets, edges=edges, resolution=resolution, bound=float(bound))


def _permutation_is_odd(order: tuple[int, ...]) -> bool:
    inversions = sum(1 for i, j in itertools.combinations(range(len(order)), 2) if order[i] > order[j])
    return inversions % 2 == 1


@functools.lru_cache(maxsize=4)
def _cached_grid(resolution: int, bound: float, device: torch.device) -> TetrahedralGrid:
    if device.type == "cpu":
        return TetrahedralGrid.build(resolution, bound)
    return _cached_grid(resolution, bound, torch.device("cpu")).to(device)


def tetrahedral_grid(
    resolution: int, bound: float = 1.0, device: torch.device | str | None = None
) -> TetrahedralGrid:
    """The cached grid with ``resolution`` cells per axis over ``[-bound, bound]^3`` on ``device`` (CPU by
    default).

    Grids are shared between callers (a small LRU cache per resolution, bound and device): treat them as
    read-only.
    """
    check_grid_arguments(resolution, bound)
    device = torch.device("cpu") if device is None else torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return _cached_grid(resolution, float(bound), device)
