import itertools

import pytest
import torch

from atom.geometry import TetrahedralGrid, tetrahedral_grid


def _signed_volumes(vertices: torch.Tensor, tets: torch.Tensor) -> torch.Tensor:
    corners = vertices.double()[tets]
    return torch.linalg.det(corners[:, 1:] - corners[:, :1]) / 6.0


@pytest.mark.parametrize(("resolution", "bound"), [(1, 1.0), (3, 1.0), (8, 0.75)])
def test_counts_orientation_and_total_volume(resolution: int, bound: float) -> None:
    grid = TetrahedralGrid.build(resolution, bound)
    assert grid.vertices.shape == ((resolution + 1) ** 3, 3) and grid.vertices.dtype == torch.float32
    assert grid.tets.shape == (6 * resolution**3, 4) and grid.tets.dtype == torch.int64
    volumes = _signed_volumes(grid.vertices, grid.tets)
    expected = (2 * bound / resolution) ** 3 / 6
    torch.testing.assert_close(volumes, torch.full_like(volumes, expected))
    torch.testing.assert_close(volumes.sum().item(), (2 * bound) ** 3)
    assert grid.cell_size == pytest.approx(2 * bound / resolution)
    assert grid.vertices.min().item() == -bound and grid.vertices.max().item() == bound


def test_vertex_index_layout() -> None:
    grid = TetrahedralGrid.build(4, 1.0)
    side = 5
    for i, j, k in [(0, 0, 0), (1, 2, 3), (4, 0, 2), (4, 4, 4)]:
        expected = torch.tensor([-1 + 0.5 * i, -1 + 0.5 * j, -1 + 0.5 * k])
        torch.testing.assert_close(grid.vertices[(i * side + j) * side + k], expected)


def test_edges_are_the_unique_tet_edges() -> None:
    grid = TetrahedralGrid.build(4, 1.0)
    pairs = torch.cat([grid.tets[:, list(pair)] for pair in itertools.combinations(range(4), 2)])
    expected = torch.unique(pairs.sort(dim=1).values, dim=0)
    assert grid.edges.dtype == torch.int64
    assert (grid.edges[:, 0] < grid.edges[:, 1]).all()
    assert torch.equal(torch.unique(grid.edges, dim=0), expected)
    assert grid.edges.shape[0] == expected.shape[0]  # no repeats


def test_tetrahedra_conform() -> None:
    # Conforming: every interior triangle is shared by exactly two tets, and the boundary triangles are
    # exactly 2 per cube face square.
    n = 3
    grid = TetrahedralGrid.build(n, 1.0)
    triangles = torch.cat([grid.tets[:, list(face)] for face in itertools.combinations(range(4), 3)])
    _, counts = torch.unique(triangles.sort(dim=1).values, dim=0, return_counts=True)
    assert set(counts.tolist()) == {1, 2}
    assert int((counts == 1).sum()) == 2 * 6 * n * n


def test_cache_returns_the_same_grid_and_validates() -> None:
    assert tetrahedral_grid(5) is tetrahedral_grid(5, 1.0, device="cpu")
    assert tetrahedral_grid(5) is not tetrahedral_grid(5, 0.5)
    deterministic = TetrahedralGrid.build(5)
    assert torch.equal(deterministic.tets, tetrahedral_grid(5).tets)
    with pytest.raises(ValueError, match="resolution must be an int >= 1, got 0"):
        tetrahedral_grid(0)
    with pytest.raises(ValueError, match="resolution must be an int >= 1, got 4.0"):
        tetrahedral_grid(4.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bound must be a number > 0, got -1"):
        tetrahedral_grid(4, -1)


def test_to_keeps_everything() -> None:
    grid = tetrahedral_grid(2)
    moved = grid.to("cpu")
    assert torch.equal(moved.tets, grid.tets) and moved.resolution == 2 and moved.bound == 1.0
