"""3D metrics against independent truth: numpy brute force, closed-form volumes (ball lens), analytic
SDF-based expectations, and the ground truth scored against itself."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
import torch
import trimesh

from atom.geometry import Mesh, marching_tetrahedra, tetrahedral_grid
from atom.toyworld.metrics import (
    EMPTY_CHAMFER,
    EMPTY_COLOR_ERROR,
    azimuthal_distances,
    azimuthal_ratio,
    chamfer_l1,
    color_error,
    component_genera,
    evaluate_meshes,
    f_score,
    format_table,
    is_solid_of_revolution,
    mesh_occupancy,
    nearest_distances,
    r_precision,
    rank1_hits,
    rotate_about_z,
    sample_surface,
    sdf_occupancy,
    shape_distance,
    summary_scalars,
    toy64_distances,
    volume_iou,
)
from atom.toyworld.shapes import COLORS, SHAPES, ToyObject, cylinder_sdf, toy64

GT_RESOLUTION = 48
RADIUS = 0.55  # the sphere's


@pytest.fixture(scope="module")
def ground_truth() -> list[tuple[ToyObject, Mesh]]:
    return [(obj, obj.ground_truth_mesh(GT_RESOLUTION)) for obj in toy64()]


def _mesh(name: str, color: int = 0) -> Mesh:
    return ToyObject(SHAPES[[s.name for s in SHAPES].index(name)], COLORS[color]).ground_truth_mesh(
        GT_RESOLUTION
    )


def _translated(mesh: Mesh, offset: tuple[float, float, float]) -> Mesh:
    return Mesh(mesh.vertices + torch.tensor(offset), mesh.faces, mesh.vertex_colors)


def _triangle(corners: list[list[float]], colors: list[list[float]]) -> Mesh:
    return Mesh(
        torch.tensor(corners, dtype=torch.float32),
        torch.tensor([[0, 1, 2]]),
        torch.tensor(colors, dtype=torch.float32),
    )


# --- surface sampling ---------------------------------------------------------------------------------


def test_samples_are_uniform_over_area_and_colors_are_barycentric() -> None:
    # Right triangle (0,0)-(1,0)-(0,1) with pure R, G, B corners: a sample (x, y) has barycentric weights
    # (1 - x - y, x, y), which must be its color; uniformity: the corner triangle x + y < 0.5 holds 1/4.
    mesh = _triangle([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    points, colors = sample_surface(mesh, 40_000, torch.Generator().manual_seed(0))
    x, y = points[:, 0], points[:, 1]
    assert (points[:, 2] == 0).all() and (x >= 0).all() and (y >= 0).all() and (x + y <= 1 + 1e-6).all()
    torch.testing.assert_close(colors, torch.stack([1 - x - y, x, y], dim=1), atol=1e-6, rtol=0)
    assert float((x + y < 0.5).float().mean()) == pytest.approx(0.25, abs=0.01)
    assert float((x < 0.5).float().mean()) == pytest.approx(0.75, abs=0.01)


def test_faces_are_drawn_in_proportion_to_area() -> None:
    # Two disjoint triangles with areas 1/2 and 3/2.
    vertices = torch.tensor(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 5], [3, 0, 5], [0, 1, 5]], dtype=torch.float32
    )
    mesh = Mesh(vertices, torch.tensor([[0, 1, 2], [3, 4, 5]]))
    points, colors = sample_surface(mesh, 40_000, torch.Generator().manual_seed(1))
    assert colors is None
    assert float((points[:, 2] > 1).float().mean()) == pytest.approx(0.75, abs=0.01)


def test_sampling_is_seeded_and_rejects_empty_meshes() -> None:
    mesh = _mesh("sphere")
    first, _ = sample_surface(mesh, 100, torch.Generator().manual_seed(7))
    second, _ = sample_surface(mesh, 100, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)
    with pytest.raises(ValueError, match="no area"):
        sample_surface(Mesh.empty(), 10)
    with pytest.raises(ValueError, match="n must be"):
        sample_surface(mesh, 0)


# --- point-set metrics --------------------------------------------------------------------------------


def _brute_force_nearest(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.sqrt(((query[:, None, :] - reference[None, :, :]) ** 2).sum(-1)).min(axis=1)


def test_chamfer_and_f_score_match_numpy_brute_force() -> None:
    rng = np.random.default_rng(0)
    pred, gt = rng.normal(size=(300, 3)) * 0.3, rng.normal(size=(400, 3)) * 0.3 + 0.05
    to_gt, to_pred = _brute_force_nearest(pred, gt), _brute_force_nearest(gt, pred)
    pred_t, gt_t = torch.from_numpy(pred).float(), torch.from_numpy(gt).float()
    np.testing.assert_allclose(nearest_distances(pred_t, gt_t).numpy(), to_gt, atol=1e-6)
    assert chamfer_l1(pred_t, gt_t) == pytest.approx(0.5 * (to_gt.mean() + to_pred.mean()), rel=1e-5)
    precision, recall = (to_gt < 0.05).mean(), (to_pred < 0.05).mean()
    assert 0 < precision < 1 and 0 < recall < 1
    assert f_score(pred_t, gt_t, 0.05) == pytest.approx(
        2 * precision * recall / (precision + recall), rel=1e-6
    )


def test_point_metrics_on_tiny_sets() -> None:
    pred = torch.tensor([[0.0, 0.0, 0.0]])
    gt = torch.tensor([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    assert chamfer_l1(pred, gt) == pytest.approx(0.5 * (0.0 + 2.5))
    assert f_score(pred, gt, 0.1) == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert f_score(pred + 10.0, gt, 0.1) == 0.0
    with pytest.raises(ValueError, match=r"at least one point, got \[0, 3\]"):
        chamfer_l1(torch.zeros(0, 3), gt)
    with pytest.raises(ValueError, match="threshold"):
        f_score(pred, gt, 0.0)


def _poisson_nearest_distance(mesh: Mesh, n: int) -> float:
    """Mean distance to the nearest of ``n`` uniform samples on a surface, ``0.5 / sqrt(density)``: the
    Chamfer-L1 of two independent sample sets of one surface (locally a planar Poisson process)."""
    return 0.5 * math.sqrt(float(mesh.area()) / n)


def test_ground_truth_scores_perfectly_against_itself(ground_truth) -> None:
    for obj, mesh in ground_truth[::9]:  # one object per shape
        pred, _ = sample_surface(mesh, 5000, torch.Generator().manual_seed(0))
        gt, _ = sample_surface(mesh, 5000, torch.Generator().manual_seed(1))
        assert f_score(pred, gt) >= 0.99, obj.prompt
        assert chamfer_l1(pred, gt) < 1.2 * _poisson_nearest_distance(mesh, 5000), obj.prompt
        assert volume_iou(mesh, sdf_occupancy(obj.sdf, 40), resolution=40) >= 0.95, obj.prompt
        assert color_error(mesh, obj.color.rgb) == pytest.approx(0.0, abs=1e-6)
    assert volume_iou(ground_truth[0][1], ground_truth[0][1]) == 1.0


def test_sphere_against_cube_matches_the_sdf_prediction() -> None:
    # Expected from the exact SDFs: precision = share of the sphere within 0.05 of the cube, i.e. where
    # |cube_sdf| < 0.05 (about 0.54: the caps around the face centres); recall = share of the cube where
    # |sphere_sdf| < 0.05 (about 0.36). So F ~= 0.43: sphere and cube are far apart for the metric.
    sphere_sdf, cube_sdf = SHAPES[0].sdf, SHAPES[1].sdf
    directions = torch.randn(200_000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    on_sphere = RADIUS * directions / directions.norm(dim=1, keepdim=True)
    on_cube, _ = sample_surface(_mesh("cube"), 200_000, torch.Generator().manual_seed(1))
    precision = float((cube_sdf(on_sphere).abs() < 0.05).double().mean())
    recall = float((sphere_sdf(on_cube.double()).abs() < 0.05).double().mean())
    expected_f = 2 * precision * recall / (precision + recall)
    expected_chamfer = 0.5 * (
        float(cube_sdf(on_sphere).abs().mean()) + float(sphere_sdf(on_cube).abs().mean())
    )

    pred, _ = sample_surface(_mesh("sphere"), 10_000, torch.Generator().manual_seed(2))
    gt, _ = sample_surface(_mesh("cube"), 10_000, torch.Generator().manual_seed(3))
    measured_f = f_score(pred, gt)
    assert measured_f < 0.6
    # Nearest-sample distances overestimate true surface distances by about the spacing: F reads low.
    assert expected_f - 0.04 <= measured_f <= expected_f + 0.01
    assert chamfer_l1(pred, gt) == pytest.approx(expected_chamfer, rel=0.1)
    assert chamfer_l1(pred, gt) > 5 * chamfer_l1(pred, sample_surface(_mesh("sphere"), 10_000)[0])


def test_shape_distance_of_a_translated_sphere() -> None:
    # Closed form: a point at polar cosine u on one sphere lies |sqrt(r^2 - 2 r d u + d^2) - r| from the
    # other; u is uniform on [-1, 1] for uniform surface samples, and both directions agree.
    offset = 0.2
    u = np.linspace(-1, 1, 200_001)
    expected = np.abs(np.sqrt(RADIUS**2 - 2 * RADIUS * offset * u + offset**2) - RADIUS).mean()
    sphere = _mesh("sphere")
    measured = shape_distance(sphere, _translated(sphere, (offset, 0.0, 0.0)), n_points=20_000)
    assert measured == pytest.approx(expected, rel=0.06)
    assert shape_distance(sphere, Mesh.empty()) == EMPTY_CHAMFER


# --- volume IoU ---------------------------------------------------------------------------------------


def test_iou_of_overlapping_balls_matches_the_lens_volume() -> None:
    offset = 0.4
    lens = math.pi * (4 * RADIUS + offset) * (2 * RADIUS - offset) ** 2 / 12
    ball = 4 / 3 * math.pi * RADIUS**3
    expected = lens / (2 * ball - lens)
    measured = volume_iou(_translated(_mesh("sphere"), (offset, 0.0, 0.0)), SHAPES[0].sdf, resolution=64)
    assert measured == pytest.approx(expected, rel=0.03)
    disjoint = volume_iou(_translated(_mesh("sphere"), (0.0, 0.0, 2 * RADIUS + 0.1)), SHAPES[0].sdf)
    assert disjoint == 0.0


def test_mesh_occupancy_agrees_with_the_sdf_away_from_the_surface(ground_truth) -> None:
    # Cells whose centre lies farther from the true surface than the extraction error (< 0.03 at
    # resolution 48) must be classified exactly as the SDF says.
    resolution = 40
    axis = torch.linspace(-1 + 1 / resolution, 1 - 1 / resolution, resolution)  # cell centres
    centres = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)
    for obj, mesh in ground_truth[::9]:
        sdf = obj.sdf(centres)
        clear = sdf.abs() > 0.03
        occupied = mesh_occupancy(mesh, resolution)
        assert torch.equal(occupied[clear], (sdf < 0)[clear]), obj.prompt


@pytest.mark.parametrize("name", ["sphere", "torus"])
def test_occupied_volume_matches_the_mesh_volume(name) -> None:
    # Divergence-theorem volume of the closed mesh vs the count of occupied cells (curved shapes: flat
    # faces aligned with the grid would bias the count by up to half a cell times their area).
    mesh = _mesh(name)
    occupied = float(mesh_occupancy(mesh, 64).sum()) * (2.0 / 64) ** 3
    assert occupied == pytest.approx(float(mesh.volume()), rel=0.02)


def test_occupancy_survives_a_hole_in_the_surface() -> None:
    # Without its top cap, rays along z see one crossing instead of two: z parity alone would fill every
    # column through the hole above the sphere (IoU about 0.7). The x and y votes outvote it except where
    # their rays cross the hole too.
    sphere = _mesh("sphere")
    centroid_z = sphere.vertices[sphere.faces].mean(dim=1)[:, 2]
    open_sphere = Mesh(sphere.vertices, sphere.faces[centroid_z < 0.45])
    assert not open_sphere.to_trimesh().is_watertight
    assert volume_iou(open_sphere, sphere) >= 0.97
    assert volume_iou(open_sphere, SHAPES[0].sdf) >= 0.96


def test_iou_of_an_empty_prediction_is_zero() -> None:
    assert volume_iou(Mesh.empty(), SHAPES[0].sdf) == 0.0
    assert not sdf_occupancy(SHAPES[0].sdf, 16)[0, 0, 0] and sdf_occupancy(SHAPES[0].sdf, 16)[8, 8, 8]


# --- color -------------------------------------------------------------------------------------------


def test_color_error_is_the_area_weighted_mean_absolute_difference() -> None:
    # Two equal triangles, one red and one blue: against red, half the surface errs by (1 + 0 + 1) / 3.
    red, blue = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]
    vertices = torch.tensor(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 2], [1, 0, 2], [0, 1, 2]], dtype=torch.float32
    )
    mesh = Mesh(vertices, torch.tensor([[0, 1, 2], [3, 4, 5]]), torch.tensor([red] * 3 + [blue] * 3))
    assert color_error(mesh, red, n_points=20_000) == pytest.approx(0.5 * 2 / 3, abs=0.01)
    gt = _mesh("cube", color=2)
    expected = float(np.abs(np.subtract(COLORS[2].rgb, COLORS[3].rgb)).mean())
    assert color_error(gt, COLORS[3].rgb) == pytest.approx(expected, abs=1e-6)
    assert color_error(Mesh.empty(), red) == EMPTY_COLOR_ERROR
    with pytest.raises(ValueError, match="vertex_colors"):
        color_error(Mesh(gt.vertices, gt.faces), red)
    with pytest.raises(ValueError, match="3 values"):
        color_error(gt, [1.0, 0.0])


# --- R-precision and the evaluation report --------------------------------------------------------------


@pytest.fixture(scope="module")
def ground_truth_distances(ground_truth) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances from every ground-truth mesh (as a prediction) to all 64 ground truths."""
    return toy64_distances([mesh for _, mesh in ground_truth], n_points=1024, gt_resolution=GT_RESOLUTION)


@pytest.mark.parametrize("mode", ["shape", "color", "both"])
def test_ground_truths_retrieve_themselves(ground_truth_distances, mode) -> None:
    shape, color = ground_truth_distances
    assert rank1_hits(shape, color, list(range(64)), mode) == [True] * 64


def test_distances_tie_exactly_within_a_shape_or_color(ground_truth_distances) -> None:
    shape, color = ground_truth_distances
    assert shape.shape == color.shape == (64, 64)
    # Column k is object (shape k // 8, color k % 8): shape distances repeat across colors and vice versa.
    assert torch.equal(shape, shape[:, ::8].repeat_interleave(8, dim=1))
    assert torch.equal(color, color[:, :8].repeat(1, 8))
    assert float(color.diagonal().abs().max()) < 1e-6


def test_wrong_shape_or_color_is_a_miss(ground_truth_distances) -> None:
    # Mesh m (the ground truth of object m) stands in as the prediction for another object.
    shape, color = ground_truth_distances
    wrong_shape = [(m + 8) % 64 for m in range(64)]  # same color, next shape
    assert not any(rank1_hits(shape, color, wrong_shape, "shape"))
    assert all(rank1_hits(shape, color, wrong_shape, "color"))
    assert not any(rank1_hits(shape, color, wrong_shape, "both"))
    wrong_color = [(m // 8) * 8 + (m + 1) % 8 for m in range(64)]  # same shape, next color
    assert all(rank1_hits(shape, color, wrong_color, "shape"))
    assert not any(rank1_hits(shape, color, wrong_color, "color"))
    assert not any(rank1_hits(shape, color, wrong_color, "both"))


def test_r_precision_counts_empty_meshes_and_skips_unknown_prompts(ground_truth) -> None:
    (obj_a, mesh_a), (obj_b, _) = ground_truth[0], ground_truth[1]
    hits, r_at_1 = r_precision(
        [mesh_a, Mesh.empty(), mesh_a],
        [obj_a, obj_b, None],
        "both",
        n_points=512,
        gt_resolution=GT_RESOLUTION,
    )
    assert hits == [True, False, None] and r_at_1 == 0.5
    with pytest.raises(ValueError, match="mode must be one of"):
        r_precision([mesh_a], [obj_a], "size")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1 meshes but 2"):
        r_precision([mesh_a], [obj_a, obj_b])


def test_evaluate_meshes_splits_seen_unseen_and_unknown(ground_truth) -> None:
    (seen_obj, seen_mesh), (unseen_obj, unseen_mesh) = ground_truth[1], ground_truth[9]
    prompts = [seen_obj.prompt, unseen_obj.prompt, "a red cube", "a golden dragon"]
    meshes = [seen_mesh, unseen_mesh, Mesh.empty(), seen_mesh]
    results = evaluate_meshes(prompts, meshes, n_points=4000, rank_points=1024, gt_resolution=GT_RESOLUTION)
    rows = results["per_prompt"]
    assert [row["split"] for row in rows] == ["seen", "unseen", "seen", "no ground truth"]
    for row in rows[:2]:
        assert row["f_score"] >= 0.99 and row["volume_iou"] >= 0.96
        assert row["chamfer_l1"] < 1.2 * _poisson_nearest_distance(meshes[0 if row is rows[0] else 1], 4000)
        assert row["color_error"] < 1e-6 and row["r1_shape"] and row["r1_color"] and row["r1_both"]
    empty = rows[2]
    assert empty["empty"] and empty["f_score"] == 0.0 and empty["volume_iou"] == 0.0
    assert empty["chamfer_l1"] == EMPTY_CHAMFER and empty["color_error"] == EMPTY_COLOR_ERROR
    assert not (empty["r1_shape"] or empty["r1_color"] or empty["r1_both"])
    assert rows[3]["f_score"] is None and rows[3]["r1_both"] is None
    seen, unseen = results["summary"]["seen"], results["summary"]["unseen"]
    assert (seen["count"], seen["empty"], unseen["count"], unseen["empty"]) == (2, 1, 1, 0)
    assert seen["r1_both"] == 0.5 and unseen["r1_both"] == 1.0
    assert seen["f_score"] == pytest.approx(0.5 * rows[0]["f_score"])

    scalars = summary_scalars(results)
    assert scalars["seen/count"] == 2.0 and scalars["unseen/r1_both"] == 1.0
    assert json.loads(json.dumps(results)) == results  # JSON-ready as it is

    table = format_table(results, per_prompt=True)
    lines = table.splitlines()
    assert lines[0].startswith("| split | n | empty | Chamfer-L1")
    assert lines[2].startswith("| seen | 2 | 1 |") and lines[3].startswith("| unseen | 1 | 0 |")
    assert len(lines) == 2 + 2 + 4 and "a golden dragon (no ground truth)" in table
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_evaluate_meshes_takes_an_explicit_unseen_set(ground_truth) -> None:
    obj, mesh = ground_truth[1]
    results = evaluate_meshes(
        [obj.prompt],
        [mesh],
        unseen={obj.prompt},
        n_points=500,
        rank_points=256,
        gt_resolution=GT_RESOLUTION,
    )
    assert results["per_prompt"][0]["split"] == "unseen"
    assert results["summary"]["seen"]["count"] == 0 and results["summary"]["seen"]["f_score"] is None
    with pytest.raises(ValueError, match="1 prompts but 2 meshes"):
        evaluate_meshes([obj.prompt], [mesh, mesh])


def _barrel(radius: float, half_height: float, resolution: int = GT_RESOLUTION) -> Mesh:
    """A capped cylinder about +Z (a solid of revolution) as a colored mesh, by marching tetrahedra."""
    grid = tetrahedral_grid(resolution)
    surface = marching_tetrahedra(grid.vertices, grid.tets, cylinder_sdf(grid.vertices, radius, half_height))
    return Mesh(surface.vertices, surface.faces, torch.full((surface.num_vertices, 3), 0.5))


def _rotated(mesh: Mesh, degrees: float) -> Mesh:
    return Mesh(rotate_about_z(mesh.vertices, degrees), mesh.faces, mesh.vertex_colors)


def test_rotate_about_z_against_the_camera_convention() -> None:
    # +X rotated by 90 degrees counter-clockwise seen from +Z is +Y; z is untouched.
    rotated = rotate_about_z(torch.tensor([[1.0, 0.0, 0.3], [0.0, 1.0, -0.2]]), 90.0)
    assert torch.allclose(rotated, torch.tensor([[0.0, 1.0, 0.3], [-1.0, 0.0, -0.2]]), atol=1e-6)


def test_solids_of_revolution_are_found_from_the_ground_truth_itself() -> None:
    # The shapes whose SDF depends on (x, y) only through x^2 + y^2 (shapes.py) and no others.
    found = {shape.name for shape in SHAPES if is_solid_of_revolution(shape, 4000, GT_RESOLUTION)}
    assert found == {"sphere", "cylinder", "cone", "capsule"}


@pytest.mark.parametrize("name", ["cube", "pyramid", "octahedron", "torus"])
def test_azimuthal_ratio_is_one_for_the_truth_and_low_for_a_solid_of_revolution(name: str) -> None:
    shape = SHAPES[[s.name for s in SHAPES].index(name)]
    # The ground truth extracted on another grid, and turned by a symmetry of the shape (90 degrees; the
    # torus, whose axis lies at azimuth 45, by 180), scores 1 within sampling noise.
    truth = ToyObject(shape, COLORS[0]).ground_truth_mesh(64)
    turn = 180.0 if name == "torus" else 90.0
    for mesh in (truth, _rotated(truth, turn)):
        assert azimuthal_ratio(mesh, shape, 4000, GT_RESOLUTION) == pytest.approx(1.0, abs=0.1)
    # A barrel of the shape's size has the structure of a sphere: its ratio is its noise floor.
    barrel = _barrel(radius=0.55, half_height=0.5)
    assert azimuthal_ratio(barrel, shape, 4000, GT_RESOLUTION) < 0.5
    assert azimuthal_ratio(Mesh.empty(), shape, 4000, GT_RESOLUTION) == 0.0
    # Solids of revolution get no ratio at all.
    assert azimuthal_ratio(truth, SHAPES[0], 4000, GT_RESOLUTION) is None


def test_azimuthal_distances_of_a_barrel_are_its_resampling_noise() -> None:
    azimuthal, resampling = azimuthal_distances(_barrel(0.55, 0.5), n_points=4000)
    assert azimuthal == pytest.approx(resampling, rel=0.1)
    with pytest.raises(ValueError, match="empty mesh"):
        azimuthal_distances(Mesh.empty())


def test_component_genera_against_trimesh_euler_number() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3)
    torus = trimesh.creation.torus(major_radius=0.5, minor_radius=0.2)
    two = trimesh.util.concatenate([torus, sphere.apply_scale(0.2)])  # torus has more faces: listed first
    for tm, expected in ((sphere, [0.0]), (torus, [1.0]), (two, [1.0, 0.0])):
        genera = component_genera(Mesh.from_trimesh(tm))
        assert genera == expected
        # closed surfaces: chi = 2 - 2 g, summed over components
        assert sum(2 - 2 * g for g in genera) == tm.euler_number
    # An open box (one side removed, one boundary loop) is still genus 0, a disc with a hole punched out
    # of nothing: chi = 1 = 2 - 2 g - b.
    box = trimesh.creation.box()
    open_box = Mesh.from_trimesh(trimesh.Trimesh(box.vertices, box.faces[2:], process=False))
    assert open_box.to_trimesh().euler_number == 1 and component_genera(open_box) == [0.0]
    assert component_genera(Mesh.empty()) == []


def test_ground_truth_torus_has_genus_one_and_evaluate_reports_it(ground_truth) -> None:
    objects = [obj for obj, _ in ground_truth]
    torus = next(i for i, obj in enumerate(objects) if obj.shape.name == "torus")
    cube = next(i for i, obj in enumerate(objects) if obj.shape.name == "cube")
    sphere = next(i for i, obj in enumerate(objects) if obj.shape.name == "sphere")
    barrel = _barrel(0.55, 0.5)
    prompts = [objects[i].prompt for i in (torus, cube, sphere, cube, torus)]
    meshes = [ground_truth[torus][1], ground_truth[cube][1], ground_truth[sphere][1], barrel, barrel]
    results = evaluate_meshes(prompts, meshes, unseen=set(), n_points=4000, rank_points=256,
                              gt_resolution=GT_RESOLUTION)
    rows = results["per_prompt"]
    assert [row["genus"] for row in rows] == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert [row["components"] for row in rows] == [1, 1, 1, 1, 1]
    assert [row["genus_match"] for row in rows] == [True, None, None, None, False]
    assert rows[0]["azimuthal_ratio"] == pytest.approx(1.0) and rows[1]["azimuthal_ratio"] == pytest.approx(1.0)
    assert rows[2]["azimuthal_ratio"] is None
    assert rows[3]["azimuthal_ratio"] < 0.5 and rows[4]["azimuthal_ratio"] < 0.5
    seen = results["summary"]["seen"]
    assert seen["genus_match"] == 0.5
    assert seen["azimuthal_ratio"] == pytest.approx(statistics.fmean(rows[i]["azimuthal_ratio"] for i in (0, 1, 3, 4)))
    assert json.loads(json.dumps(results)) == results
    table = format_table(results)
    assert "azimuthal ratio" in table.splitlines()[0] and "genus match" in table.splitlines()[0]
