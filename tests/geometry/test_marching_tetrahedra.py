import logging
import math

import numpy as np
import pytest
import torch

from atom.geometry import Mesh, extract_mesh, marching_tetrahedra, tetrahedral_grid

LOGGER = "atom.geometry.marching_tetrahedra"


def _sphere_sdf(
    points: torch.Tensor, radius: float, center: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> torch.Tensor:
    return (points - torch.tensor(center, dtype=points.dtype)).norm(dim=-1) - radius


def _check_closed_outward(mesh: Mesh) -> None:
    tm = mesh.to_trimesh()
    assert tm.is_watertight
    assert tm.is_winding_consistent
    assert tm.volume > 0
    assert len(np.unique(tm.vertices, axis=0)) == mesh.num_vertices  # no duplicate vertices


def test_sphere_area_volume_and_topology() -> None:
    grid = tetrahedral_grid(64)
    radius = 0.5
    mesh = extract_mesh(grid, _sphere_sdf(grid.vertices, radius))
    assert mesh.vertices.dtype == torch.float32 and mesh.faces.dtype == torch.int64
    assert float(mesh.area()) == pytest.approx(4 * math.pi * radius**2, rel=0.02)
    assert float(mesh.volume()) == pytest.approx(4 / 3 * math.pi * radius**3, rel=0.02)
    _check_closed_outward(mesh)
    assert mesh.to_trimesh().euler_number == 2  # a sphere
    assert (mesh.vertices.norm(dim=1) - radius).abs().max() < 0.1 * grid.cell_size
    # Outward: the normals point away from the centre.
    centers = mesh.vertices[mesh.faces].mean(dim=1)
    assert ((mesh.face_normals() * centers).sum(dim=1) > 0).all()


def test_exact_zero_sdf_vertices_are_merged() -> None:
    # A box aligned with the lattice puts whole layers of grid vertices exactly on the surface.
    grid = tetrahedral_grid(8)
    q = grid.vertices.abs() - 0.5
    sdf = q.clamp_min(0).norm(dim=1) + q.max(dim=1).values.clamp_max(0)
    assert int((sdf == 0).sum()) > 0
    sdf.requires_grad_(True)
    mesh = extract_mesh(grid, sdf)
    _check_closed_outward(mesh)
    assert float(mesh.face_areas().detach().min()) > 0  # the zero-area faces were dropped
    on_box = mesh.vertices.detach().abs().max(dim=1).values
    torch.testing.assert_close(on_box, torch.full((mesh.num_vertices,), 0.5))
    (mesh.area() + mesh.vertices.sum()).backward()
    assert torch.isfinite(sdf.grad).all() and sdf.grad.abs().sum() > 0


@pytest.mark.parametrize("flip_tet", [False, True])
@pytest.mark.parametrize("case", range(1, 15))
def test_every_case_faces_point_to_positive_sdf(case: int, flip_tet: bool) -> None:
    vertices = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.1, 0.0], [0.2, 1.0, 0.1], [0.1, 0.3, 1.0]])
    tets = torch.tensor([[0, 2, 1, 3]] if flip_tet else [[0, 1, 2, 3]])
    inside = torch.tensor([(case >> i) & 1 for i in range(4)], dtype=torch.bool)
    magnitude = torch.tensor([0.3, 0.7, 1.1, 0.5])
    # Case bits refer to the tet's local order; map them back to the grid vertices it names.
    sdf = torch.empty(4)
    sdf[tets[0]] = torch.where(inside, -magnitude, magnitude)
    mesh = marching_tetrahedra(vertices, tets, sdf)
    inside_count = int(inside.sum())
    assert mesh.num_faces == (2 if inside_count == 2 else 1)
    assert mesh.num_vertices == inside_count * (4 - inside_count)
    outward = vertices[sdf > 0].mean(dim=0) - vertices[sdf < 0].mean(dim=0)
    assert ((mesh.face_normals() @ outward) > 0).all()


def test_any_tet_orientation_gives_the_same_closed_surface() -> None:
    grid = tetrahedral_grid(10)
    sdf = _sphere_sdf(grid.vertices, 0.6, (0.05, -0.03, 0.02))
    generator = torch.Generator().manual_seed(1)
    order = torch.argsort(torch.rand(grid.tets.shape, generator=generator), dim=1)
    shuffled = torch.gather(grid.tets, 1, order)
    reference = marching_tetrahedra(grid.vertices, grid.tets, sdf)
    mesh = marching_tetrahedra(grid.vertices, shuffled, sdf)
    _check_closed_outward(mesh)
    assert mesh.num_vertices == reference.num_vertices
    assert float(mesh.volume()) == pytest.approx(float(reference.volume()), rel=0.02)


def _central_differences(function, value: torch.Tensor, indices: list[tuple[int, ...]], eps: float = 1e-6):
    estimates = []
    for index in indices:
        plus, minus = value.clone(), value.clone()
        plus[index] += eps
        minus[index] -= eps
        estimates.append((function(plus) - function(minus)) / (2 * eps))
    return torch.stack(estimates)


def test_gradients_match_finite_differences() -> None:
    grid = tetrahedral_grid(8)
    vertices = grid.vertices.double()
    # Offset centre: no grid vertex has an SDF near zero, so small steps keep the topology.
    sdf = _sphere_sdf(vertices, 0.52, (0.013, -0.021, 0.017))
    reference = marching_tetrahedra(vertices, grid.tets, sdf)
    weights = torch.randn(reference.vertices.shape, dtype=torch.float64)

    def loss_of_sdf(values: torch.Tensor) -> torch.Tensor:
        return (marching_tetrahedra(vertices, grid.tets, values).vertices * weights).sum()

    def loss_of_deformation(deformation: torch.Tensor) -> torch.Tensor:
        return (extract_mesh(grid, sdf, deformation).vertices * weights).sum()

    sdf_leaf = sdf.clone().requires_grad_(True)
    loss_of_sdf(sdf_leaf).backward()
    deformation = torch.zeros_like(vertices, requires_grad=True)
    loss_of_deformation(deformation).backward()

    generator = torch.Generator().manual_seed(2)
    active = torch.nonzero(sdf_leaf.grad).flatten()
    assert active.numel() > 0
    chosen = active[torch.randperm(active.numel(), generator=generator)[:20]]
    idle = torch.nonzero(sdf_leaf.grad == 0).flatten()[:5]  # far from the surface: exactly zero
    sdf_indices = [(int(i),) for i in torch.cat([chosen, idle])]
    numeric = _central_differences(loss_of_sdf, sdf, sdf_indices)
    analytic = torch.stack([sdf_leaf.grad[i] for i in sdf_indices])
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-8)

    deformation_indices = [(int(i), int(c)) for i in chosen[:12] for c in (0, 2)]
    numeric = _central_differences(loss_of_deformation, torch.zeros_like(vertices), deformation_indices)
    analytic = torch.stack([deformation.grad[i] for i in deformation_indices])
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_deformation_moves_the_surface() -> None:
    grid = tetrahedral_grid(8)
    sdf = _sphere_sdf(grid.vertices, 0.5, (0.01, 0.02, 0.03))
    shift = torch.tensor([0.01, -0.02, 0.005])
    moved = extract_mesh(grid, sdf, shift.expand_as(grid.vertices))
    still = extract_mesh(grid, sdf)
    torch.testing.assert_close(moved.vertices, still.vertices + shift)
    assert torch.equal(moved.faces, still.faces)


def test_inverting_deformation_keeps_the_faces() -> None:
    grid = tetrahedral_grid(8)
    sdf = _sphere_sdf(grid.vertices, 0.5, (0.01, 0.02, 0.03))
    still = extract_mesh(grid, sdf)
    # Move the lattice layers x = 0 and x = h past each other: the tetrahedra between them invert.
    x = grid.vertices[:, 0]
    shift = torch.zeros_like(x)
    shift[torch.isclose(x, torch.tensor(0.0))] = 0.75 * grid.cell_size
    shift[torch.isclose(x, torch.tensor(grid.cell_size))] = -0.75 * grid.cell_size
    deformation = torch.stack([shift, torch.zeros_like(x), torch.zeros_like(x)], dim=1)
    folded = extract_mesh(grid, sdf, deformation)
    assert torch.equal(folded.faces, still.faces)
    assert folded.to_trimesh().is_winding_consistent
    # Judged on the deformed positions instead, the inverted tetrahedra's faces flip.
    judged_deformed = marching_tetrahedra(grid.vertices + deformation, grid.tets, sdf)
    assert not torch.equal(judged_deformed.faces, still.faces)


def test_nearly_equal_endpoint_sdf_is_finite() -> None:
    grid = tetrahedral_grid(6)
    sdf = torch.where(_sphere_sdf(grid.vertices, 0.5, (0.01, 0.02, 0.03)) < 0, -1e-30, 1e-30)
    sdf.requires_grad_(True)
    vertices = grid.vertices.clone().requires_grad_(True)
    mesh = marching_tetrahedra(vertices, grid.tets, sdf)
    assert mesh.num_faces > 0 and torch.isfinite(mesh.vertices).all()
    (mesh.vertices.sum() + mesh.area()).backward()
    assert torch.isfinite(sdf.grad).all() and torch.isfinite(vertices.grad).all()


@pytest.mark.parametrize("value", [0.5, -0.5])
def test_no_crossing_gives_empty_mesh_and_one_warning(value: float, caplog: pytest.LogCaptureFixture) -> None:
    grid = tetrahedral_grid(4)
    sdf = torch.full((grid.vertices.shape[0],), value, requires_grad=True)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mesh = extract_mesh(grid, sdf)
    assert mesh.is_empty and mesh.num_vertices == 0
    assert torch.isfinite(mesh.area()) and torch.isfinite(mesh.volume())
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert f"[{value:.4g}, {value:.4g}]" in records[0].getMessage()


def test_empty_input_gives_empty_mesh(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mesh = marching_tetrahedra(torch.zeros(0, 3), torch.zeros(0, 4, dtype=torch.long), torch.zeros(0))
    assert mesh.is_empty
    assert len([r for r in caplog.records if r.name == LOGGER]) == 1


def test_bad_inputs_raise_clear_errors() -> None:
    grid = tetrahedral_grid(2)
    sdf = _sphere_sdf(grid.vertices, 0.5)
    with pytest.raises(ValueError, match=r"sdf must be a floating point \[27\] tensor .* got \[26\]"):
        marching_tetrahedra(grid.vertices, grid.tets, sdf[:-1])
    with pytest.raises(ValueError, match=r"vertices must be .* \[Nv, 3\] tensor, got \[27, 2\]"):
        marching_tetrahedra(grid.vertices[:, :2], grid.tets, sdf)
    with pytest.raises(ValueError, match=r"tets must be an integer \[Nt, 4\] tensor, got \[48, 3\]"):
        marching_tetrahedra(grid.vertices, grid.tets[:, :3], sdf)
    with pytest.raises(ValueError, match=r"deformation must be \[27, 3\]"):
        extract_mesh(grid, sdf, torch.zeros(27, 2))
    broken = sdf.clone()
    broken[3] = torch.nan
    with pytest.raises(ValueError, match=r"sdf has 1 non-finite values \(NaN or inf\) out of 27"):
        marching_tetrahedra(grid.vertices, grid.tets, broken)
