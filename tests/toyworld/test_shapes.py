"""Toy64 shapes, colors and prompts against analytic truth: closed-form SDF values, volumes and extents,
finite-difference gradients, and distances to independently sampled surfaces."""

from __future__ import annotations

import colorsys
import itertools
import math

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from atom.geometry import Mesh
from atom.toyworld.shapes import (
    COLORS,
    SHAPES,
    ToyObject,
    cone_sdf,
    convex_polyhedron_sdf,
    find_object,
    toy64,
    toy64_split,
)

GT_RESOLUTION = 48
CELL = 2.0 / GT_RESOLUTION
SHAPE_NAMES = [shape.name for shape in SHAPES]

# Closed-form volumes of the shapes documented in atom/toyworld/shapes.py.
VOLUMES = {
    "sphere": 4.0 / 3.0 * math.pi * 0.55**3,
    # Steiner: a cube of side 0.9 grown by a ball of radius 0.05.
    "cube": 0.9**3 + 6 * 0.9**2 * 0.05 + 3 * math.pi * 0.9 * 0.05**2 + 4.0 / 3.0 * math.pi * 0.05**3,
    "cylinder": math.pi * 0.55**2 * 0.6,
    "cone": math.pi * 0.45**2 * 1.1 / 3.0,
    "torus": 2.0 * math.pi**2 * 0.4 * 0.15**2,
    "capsule": math.pi * 0.28**2 * 0.6 + 4.0 / 3.0 * math.pi * 0.28**3,
    "pyramid": 1.1**2 * 0.8 / 3.0,
    "octahedron": 4.0 / 3.0 * 0.6**3,
}
# Axis-aligned half-extents (x, y, z) from the same table.
EXTENTS = {
    "sphere": (0.55, 0.55, 0.55),
    "cube": (0.5, 0.5, 0.5),
    "cylinder": (0.55, 0.55, 0.3),
    "cone": (0.45, 0.45, 0.55),
    "torus": (0.4 / math.sqrt(2) + 0.15, 0.4 / math.sqrt(2) + 0.15, 0.55),
    "capsule": (0.28, 0.28, 0.58),
    "pyramid": (0.55, 0.55, 0.4),
    "octahedron": (0.6, 0.6, 0.6),
}
# A point well inside each shape: the centre, except for the torus, whose centre is its hole.
INSIDE = {name: (0.0, 0.0, 0.0) for name in SHAPE_NAMES} | {
    "torus": (0.4 / math.sqrt(2), -0.4 / math.sqrt(2), 0.0)
}


@pytest.fixture(scope="module")
def meshes() -> dict[str, Mesh]:
    return {shape.name: ToyObject(shape, COLORS[0]).ground_truth_mesh(GT_RESOLUTION) for shape in SHAPES}


def test_vocabulary_covers_the_documented_shapes() -> None:
    assert set(SHAPE_NAMES) == set(VOLUMES) and len(SHAPE_NAMES) == 8


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_NAMES)
def test_sdf_sign_inside_and_at_the_corners(shape) -> None:
    assert float(shape.sdf(torch.tensor(INSIDE[shape.name]))) < -0.1
    corners = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=3)))
    assert (shape.sdf(corners) > 0.5).all()


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_NAMES)
def test_sdf_is_positive_outside_the_box_every_shape_must_fit(shape) -> None:
    # Points on the surface of [-0.8, 0.8]^3: an exact SDF there is the gap to the shape, > 0.
    g = torch.Generator().manual_seed(0)
    points = torch.rand(3000, 3, generator=g) * 1.6 - 0.8
    axis = torch.randint(0, 3, (3000,), generator=g)
    points[torch.arange(3000), axis] = torch.where(torch.rand(3000, generator=g) < 0.5, -0.8, 0.8)
    assert float(shape.sdf(points).min()) > 0.15


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_NAMES)
def test_gradient_has_unit_norm(shape) -> None:
    # Exact SDFs satisfy |grad| = 1 wherever differentiable; central differences in float64.
    g = torch.Generator().manual_seed(1)
    points = torch.rand(2000, 3, generator=g, dtype=torch.float64) * 1.8 - 0.9
    near = points[shape.sdf(points).abs() < 0.15]
    assert near.shape[0] > 100
    eps = 1e-6
    steps = eps * torch.eye(3, dtype=torch.float64)
    grad = torch.stack([(shape.sdf(near + s) - shape.sdf(near - s)) / (2 * eps) for s in steps], dim=-1)
    torch.testing.assert_close(
        grad.norm(dim=-1), torch.ones(near.shape[0], dtype=torch.float64), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_NAMES)
def test_stepping_down_the_gradient_lands_on_the_surface(shape) -> None:
    # For an exact SDF, p - sdf(p) * grad(p) is the nearest surface point; a mere bound (e.g. the max of
    # plane distances of a polyhedron) lands beside the surface near edges and fails this.
    g = torch.Generator().manual_seed(2)
    points = (torch.rand(2000, 3, generator=g, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    distance = shape.sdf(points)
    (grad,) = torch.autograd.grad(distance.sum(), points)
    assert torch.isfinite(grad).all()
    projected = points.detach() - distance.detach()[:, None] * grad
    assert float(shape.sdf(projected).abs().max()) < 1e-6


def _sample_polyhedron(vertices: torch.Tensor, faces: torch.Tensor, n: int) -> np.ndarray:
    """Uniform samples of a triangle surface, written independently of the metrics module."""
    rng = np.random.default_rng(0)
    tri = vertices.double().numpy()[faces.numpy()]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    face = rng.choice(len(tri), size=n, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random((n, 1))), rng.random((n, 1))
    return (1 - r1) * tri[face, 0] + r1 * (1 - r2) * tri[face, 1] + r1 * r2 * tri[face, 2]


@pytest.mark.parametrize("name", ["pyramid", "octahedron"])
def test_polyhedron_sdf_equals_distance_to_its_sampled_faces(name) -> None:
    shape = SHAPES[SHAPE_NAMES.index(name)]
    vertices, faces = shape.sdf.keywords["vertices"], shape.sdf.keywords["faces"]
    surface = _sample_polyhedron(vertices, faces, 100_000)
    queries = np.random.default_rng(1).uniform(-0.9, 0.9, (2000, 3))
    distance, _ = cKDTree(surface).query(queries)
    sdf = shape.sdf(torch.from_numpy(queries)).numpy()
    # Sample spacing (about 6e-3 on ~3 units^2 of surface) bounds the brute-force error.
    np.testing.assert_allclose(np.abs(sdf), distance, atol=6e-3)
    assert float(np.abs(shape.sdf(torch.from_numpy(surface))).max()) < 1e-9


@pytest.mark.parametrize("name", ["sphere", "cube", "cylinder", "cone", "torus", "capsule"])
def test_sdf_equals_distance_to_the_extracted_surface(name, meshes) -> None:
    # Brute force against dense samples of the marching-tetrahedra surface: the mesh misses sharp
    # rims by up to about half a cell, which sets the tolerance.
    tm = meshes[name].to_trimesh()
    surface, _ = tm.sample(200_000, return_index=True, seed=0)
    queries = np.random.default_rng(3).uniform(-0.9, 0.9, (2000, 3))
    distance, _ = cKDTree(surface).query(queries)
    sdf = SHAPES[SHAPE_NAMES.index(name)].sdf(torch.from_numpy(queries)).numpy()
    np.testing.assert_allclose(np.abs(sdf), distance, atol=0.025)
    assert np.mean(np.abs(np.abs(sdf) - distance)) < 5e-3


def test_sphere_and_cube_values_at_known_points() -> None:
    sphere, cube = SHAPES[0].sdf, SHAPES[1].sdf
    points = torch.tensor(
        [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.3, 0.4], [-0.6, 0.0, 0.8]], dtype=torch.float64
    )
    torch.testing.assert_close(sphere(points), torch.tensor([-0.55, 0.45, -0.05, 0.45], dtype=torch.float64))
    points = torch.tensor(
        [
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.7, 0.2, -0.1],
            [0.4, 0.0, 0.1],
            [0.6, 0.6, 0.0],
            [1.0, 1.0, 1.0],
        ],
        dtype=torch.float64,
    )
    expected = [-0.5, 0.5, 0.2, -0.1, math.hypot(0.15, 0.15) - 0.05, math.sqrt(3) * 0.55 - 0.05]
    torch.testing.assert_close(cube(points), torch.tensor(expected, dtype=torch.float64))


def test_cone_apex_and_base_values() -> None:
    points = torch.tensor(
        [[0.0, 0.0, 0.55], [0.0, 0.0, 0.75], [0.0, 0.0, -0.75], [0.45, 0.0, -0.55], [0.0, 0.0, -0.5]]
    )
    expected = torch.tensor([0.0, 0.2, 0.2, 0.0, -0.05])
    torch.testing.assert_close(cone_sdf(points, base_radius=0.45, half_height=0.55), expected)


def test_convex_polyhedron_sdf_of_a_tetrahedron() -> None:
    vertices = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    points = torch.tensor([[0.1, 0.1, 0.1], [-1.0, -1.0, -1.0], [2.0, 0.0, 0.0], [0.2, 0.2, -0.5]])
    expected = torch.tensor([-0.1, math.sqrt(3.0), 1.0, 0.5])
    torch.testing.assert_close(convex_polyhedron_sdf(points, vertices, faces), expected)


def test_sdf_rejects_points_without_three_coordinates() -> None:
    with pytest.raises(ValueError, match=r"\[\.\.\., 3\].*\[4, 2\]"):
        SHAPES[0].sdf(torch.zeros(4, 2))


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_ground_truth_mesh_is_watertight_with_analytic_volume_and_extent(name, meshes) -> None:
    mesh = meshes[name]
    assert mesh.to_trimesh().is_watertight
    assert float(mesh.volume()) == pytest.approx(VOLUMES[name], rel=0.025)
    extent = mesh.vertices.abs().amax(dim=0)
    # Marching tetrahedra cuts corners by at most a cell, and never grows the shape.
    for measured, documented in zip(extent.tolist(), EXTENTS[name]):
        assert documented - CELL <= measured <= documented + 1e-5
    assert 0.5 <= max(EXTENTS[name]) <= 0.6


def test_sphere_mesh_area_and_volume(meshes) -> None:
    mesh = meshes["sphere"]
    assert float(mesh.area()) == pytest.approx(4 * math.pi * 0.55**2, rel=0.05)
    assert float(mesh.volume()) == pytest.approx(4 / 3 * math.pi * 0.55**3, rel=0.05)


def test_ground_truth_mesh_carries_the_color_and_is_cached() -> None:
    obj = toy64()[3 * 8 + 5]
    mesh = obj.ground_truth_mesh(GT_RESOLUTION)
    assert mesh.vertex_colors is not None
    torch.testing.assert_close(mesh.vertex_colors, torch.tensor(obj.color.rgb).expand(mesh.num_vertices, 3))
    other_color = ToyObject(obj.shape, COLORS[0]).ground_truth_mesh(GT_RESOLUTION)
    assert other_color.vertices is mesh.vertices
    with pytest.raises(ValueError, match="resolution"):
        obj.ground_truth_mesh(1)


def test_colors_keep_distinct_hues_under_shading() -> None:
    # Lambertian shading scales RGB, which keeps hue: distinct hues stay distinct at any brightness.
    assert len({color.name for color in COLORS}) == 8
    hues = []
    for color in COLORS:
        assert all(0.0 <= c <= 1.0 for c in color.rgb)
        hue, saturation, value = colorsys.rgb_to_hsv(*color.rgb)
        assert saturation >= 0.5 and value >= 0.5, color
        hues.append(hue * 360.0)
    for a, b in itertools.combinations(hues, 2):
        assert min(abs(a - b), 360.0 - abs(a - b)) >= 25.0
    assert all(color.name[0] not in "aeiou" for color in COLORS)  # "a {color} ..." stays grammatical


def test_toy64_order_prompts_and_split() -> None:
    objects = toy64()
    assert len(objects) == 64 and len({obj.prompt for obj in objects}) == 64
    for i, j in itertools.product(range(8), range(8)):
        assert objects[i * 8 + j] == ToyObject(SHAPES[i], COLORS[j])
    assert objects[8 + 0].prompt == "a red cube"
    train, test = toy64_split()
    assert len(train) == 56 and len(test) == 8
    assert sorted(train + test) == list(range(64))
    assert test == [i * 9 for i in range(8)]
    assert all(objects[k].shape == SHAPES[i] and objects[k].color == COLORS[i] for i, k in enumerate(test))


def test_find_object_normalises_and_rejects_unknown_prompts() -> None:
    for obj in toy64():
        assert find_object(obj.prompt) == obj
    assert find_object("  A   Red CUBE. ") == ToyObject(SHAPES[1], COLORS[0])
    assert find_object("a red dragon") is None
    assert find_object("a cube") is None
    assert find_object("") is None
