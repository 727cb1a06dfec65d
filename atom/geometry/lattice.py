"""The regular lattice of points that both extraction grids (tetrahedral and voxel) are built on.

Lattice point ``(i, j, k)`` (x, y, z indices, each in ``0..N``) has the flat index
``(i * (N+1) + j) * (N+1) + k`` and sits at ``-bound + (i, j, k) * 2 * bound / N``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_grid_arguments(resolution: int, bound: float) -> None:
    """Raise a ValueError unless ``resolution`` is an int >= 1 and ``bound`` a number > 0."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be an int >= 1, got {resolution!r}")
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not bound > 0:
        raise ValueError(f"bound must be a number > 0, got {bound!r}")


def lattice_points(resolution: int, bound: float) -> Tensor:
    """``[(N+1)^3, 3]`` float32 lattice points over ``[-bound, bound]^3`` in flat-index order."""
    # From integers in float64: symmetric about 0 and exact at 0 and +-bound for any resolution.
    steps = torch.arange(resolution + 1, dtype=torch.float64) * 2 - resolution
    axis = (steps * bound / resolution).to(torch.float32)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)


def lattice_indices(counts: tuple[int, int, int], side: int) -> Tensor:
    """Flat indices of the lattice points (i, j, k) with i < counts[0], j < counts[1], k < counts[2].

    side: points per axis of the lattice (N + 1). Returned in (i, j, k) row-major order, int64.
    """
    i, j, k = (torch.arange(count, dtype=torch.long) for count in counts)
    return ((i[:, None, None] * side + j[None, :, None]) * side + k[None, None, :]).reshape(-1)
