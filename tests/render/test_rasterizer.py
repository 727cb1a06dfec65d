import logging
import math

import pytest
import torch
import trimesh

from atom.render import rasterizer as rasterizer_module
from atom.render.cameras import look_at
from atom.render.edge_antialias import face_neighbours
from atom.render.rasterizer import (
    NvdiffrastRasterizer,
    TorchRasterizer,
    make_rasterizer,
    nvdiffrast_available,
)


def _sphere(subdivisions: int, radius: float = 0.5, dtype=torch.float32):
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return torch.tensor(mesh.vertices, dtype=dtype), torch.tensor(mesh.faces, dtype=torch.int64)


def _clip(vertices, cameras, aspect=1.0):
    homogeneous = torch.cat([vertices, torch.ones_like(vertices[..., :1])], -1)
    return homogeneous @ cameras.world_to_clip(aspect=aspect).to(vertices.dtype).transpose(1, 2)


def _disc_radius_px(radius, distance, fov, resolution):
    """Silhouette of a sphere seen from its centre's direction: a circle of angular radius asin(r/d)."""
    return math.tan(math.asin(radius / distance)) / math.tan(math.radians(fov) / 2) * resolution / 2


def _disc_coverage(radius_px, resolution, supersampling=8):
    """Exact-ish fraction of each pixel inside the centred disc, by supersampling."""
    grid = (
        torch.arange(resolution * supersampling, dtype=torch.float64) + 0.5
    ) / supersampling - resolution / 2
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    inside = (x**2 + y**2 < radius_px**2).double()
    return inside.view(resolution, supersampling, resolution, supersampling).mean((1, 3))


def test_sphere_coverage_matches_projected_disc():
    vertices, faces = _sphere(4)
    distance, fov, resolution = torch.tensor([2.5, 3.2]), torch.tensor([40.0, 30.0]), 128
    cameras = look_at(torch.tensor([20.0, -40.0]), torch.tensor([30.0, 200.0]), distance, fov)
    rasterizer = TorchRasterizer()
    clip = _clip(vertices, cameras)
    fragments = rasterizer.rasterize(clip, faces, (resolution, resolution))
    antialiased = rasterizer.antialias(fragments.mask[..., None].float(), fragments, clip, faces)[..., 0]
    for b in range(2):
        radius = _disc_radius_px(0.5, distance[b].item(), fov[b].item(), resolution)
        area = math.pi * radius**2
        assert abs(fragments.mask[b].sum().item() - area) < 0.02 * area
        # Antialiasing moves each pixel towards its true fractional coverage.
        coverage = _disc_coverage(radius, resolution).float()
        hard_error = (fragments.mask[b].float() - coverage).abs().sum()
        soft_error = (antialiased[b] - coverage).abs().sum()
        assert soft_error < 0.75 * hard_error
        assert ((antialiased[b] >= 0) & (antialiased[b] <= 1)).all()


def test_chunking_does_not_change_the_result():
    vertices, faces = _sphere(3)
    clip = _clip(vertices, look_at(10.0, 20.0, 1.8, 50.0))
    reference = TorchRasterizer().rasterize(clip, faces, (40, 48))
    chunked = TorchRasterizer(chunk_size=7).rasterize(clip, faces, (40, 48))
    assert torch.equal(reference.triangle_id, chunked.triangle_id)
    torch.testing.assert_close(reference.barycentrics, chunked.barycentrics)


def test_interpolation_is_perspective_correct():
    """World positions interpolated at a pixel lie on that pixel's ray, at the fragment's depth."""
    cameras = look_at(torch.tensor(25.0, dtype=torch.float64), -30.0, 2.0, 60.0)
    # A large triangle, strongly slanted in depth, well inside the view.
    vertices = torch.tensor([[-0.6, -0.5, -0.2], [0.7, 0.3, -0.3], [0.4, -0.2, 0.7]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    rasterizer, height, width = TorchRasterizer(), 24, 32
    clip = _clip(vertices, cameras, aspect=width / height)
    fragments = rasterizer.rasterize(clip, faces, (height, width))
    positions = rasterizer.interpolate(vertices[None], fragments, faces).view(-1, 3)
    covered = fragments.mask.view(-1)
    assert covered.sum() > 50
    origins, directions = (value[0] for value in cameras.rays(height, width))
    offset = positions[covered] - origins[covered]
    along = (offset * directions[covered]).sum(-1, keepdim=True)
    torch.testing.assert_close(offset, along * directions[covered], atol=1e-9, rtol=0)
    forward = -cameras.camera_to_world()[0, :3, 2]
    torch.testing.assert_close(fragments.depth.view(-1)[covered], offset @ forward)
    assert torch.isinf(fragments.depth.view(-1)[~covered]).all()
    assert (positions[~covered] == 0).all()
    torch.testing.assert_close(
        fragments.barycentrics.sum(-1)[fragments.mask], torch.ones(int(covered.sum()), dtype=torch.float64)
    )


def test_barycentric_gradients_match_finite_differences():
    cameras = look_at(torch.tensor(10.0, dtype=torch.float64), 20.0, 2.0, 50.0)
    vertices = torch.tensor([[-0.5, -0.6, -0.3], [0.6, 0.4, -0.2], [0.1, -0.3, 0.6]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    clip = _clip(vertices, cameras).detach().requires_grad_(True)
    rasterizer = TorchRasterizer()
    attributes = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]]], dtype=torch.float64)
    weights = torch.rand(1, 12, 12, 2, dtype=torch.float64)

    def render(clip_vertices):
        fragments = rasterizer.rasterize(clip_vertices, faces, (12, 12))
        return (rasterizer.interpolate(attributes, fragments, faces) * weights).sum() + (
            fragments.depth.where(fragments.mask, 0.0) * weights[..., 0]
        ).sum()

    torch.autograd.gradcheck(render, (clip,), eps=1e-7, atol=1e-5)


def test_nearest_triangle_wins_in_any_order():
    near = [[-0.5, -0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.5, 0.5]]
    far = [[-0.9, -0.9, -0.5], [0.9, -0.9, -0.5], [0.0, 0.9, -0.5]]
    cameras = look_at(90.0, 0.0, 3.0, 60.0)  # looking down -Z
    rasterizer = TorchRasterizer()
    for order in ((near, far), (far, near)):
        vertices = torch.tensor(order[0] + order[1])
        fragments = rasterizer.rasterize(
            _clip(vertices, cameras), torch.tensor([[0, 1, 2], [3, 4, 5]]), (32, 32)
        )
        near_id = 0 if order[0] is near else 1
        assert fragments.triangle_id[0, 16, 16] == near_id
        assert fragments.depth[0, 16, 16] == pytest.approx(2.5, abs=1e-5)
        assert (fragments.triangle_id == 1 - near_id).sum() > 0  # the far one shows around the near one


def test_antialiased_coverage_derivative_equals_edge_length():
    """Moving the right edge of a screen-aligned square by dx grows the area by height * dx."""
    height = width = 32
    # In clip space with w = 1: the square spans NDC [-0.45, 0.37] x [-0.41, 0.5].
    right = torch.tensor(0.37, dtype=torch.float64, requires_grad=True)
    left, bottom, top = -0.45, -0.41, 0.5
    corners = [
        torch.stack([x, torch.tensor(y, dtype=torch.float64)])
        for x, y in (
            (torch.tensor(left, dtype=torch.float64), bottom),
            (right, bottom),
            (right, top),
            (torch.tensor(left, dtype=torch.float64), top),
        )
    ]
    xy = torch.stack(corners)
    clip = torch.cat([xy, torch.zeros(4, 1, dtype=torch.float64), torch.ones(4, 1, dtype=torch.float64)], -1)[
        None
    ]
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    rasterizer = TorchRasterizer()
    fragments = rasterizer.rasterize(clip, faces, (height, width))
    mask = rasterizer.antialias(fragments.mask[..., None].double(), fragments, clip, faces)
    exact_area = (right.item() - left) * width / 2 * (top - bottom) * height / 2
    assert mask.sum().item() == pytest.approx(exact_area, abs=height * 0.5)
    mask.sum().backward()
    rows_covered = fragments.mask[0].any(1).sum().item()
    assert right.grad.item() == pytest.approx(rows_covered * width / 2, rel=1e-6)
    assert rows_covered == round((top - bottom) * height / 2)


def test_face_neighbours():
    vertices, faces = _sphere(2)
    neighbours = face_neighbours(faces)
    assert (neighbours >= 0).all()  # closed mesh: every edge has a neighbour
    for face, edge in ((0, 0), (17, 1), (100, 2)):
        shared = {faces[face, edge].item(), faces[face, (edge + 1) % 3].item()}
        assert shared <= set(faces[neighbours[face, edge]].tolist())
        assert neighbours[face, edge] != face
    open_neighbours = face_neighbours(faces[1:])
    assert (open_neighbours == -1).sum() == 3  # removing a face opens a three-edge hole


def _assert_finite_everywhere(vertices, faces, cameras, resolution=32):
    vertices = vertices.clone().requires_grad_(True)
    rasterizer = TorchRasterizer()
    clip = _clip(vertices, cameras)
    fragments = rasterizer.rasterize(clip, faces, (resolution, resolution))
    mask = rasterizer.antialias(fragments.mask[..., None].float(), fragments, clip, faces)
    values = rasterizer.interpolate(vertices[None], fragments, faces)
    for tensor in (fragments.barycentrics, values, mask):
        assert torch.isfinite(tensor).all()
    (values.sum() + mask.sum() + fragments.depth.where(fragments.mask, 0.0).sum()).backward()
    assert torch.isfinite(vertices.grad).all()
    return fragments


def test_camera_inside_the_sphere_gives_no_nan():
    vertices, faces = _sphere(3)
    fragments = _assert_finite_everywhere(vertices, faces, look_at(10.0, 30.0, 0.2, 60.0))
    assert fragments.mask.float().mean() > 0.5  # the inside of the sphere fills most of the view


def test_vertices_behind_the_camera_and_degenerate_triangles_give_no_nan():
    vertices = torch.tensor(
        [
            [0.0, 0.0, 0.0],
            [0.0, 0.5, 0.0],
            [0.0, 0.0, 0.5],  # a normal triangle
            [0.0, 0.2, 0.2],
            [0.0, 0.2, 0.2],
            [0.0, 0.2, 0.2],  # collapsed to a point
            [0.0, -0.5, 0.0],
            [0.0, -0.25, 0.0],
            [0.0, 0.0, 0.0],  # collinear
            [5.0, 0.0, 0.0],
            [-5.0, 0.3, 0.0],
            [-5.0, -0.3, 0.2],  # crosses the camera plane
        ]
    )
    faces = torch.arange(12).view(4, 3)
    fragments = _assert_finite_everywhere(vertices, faces, look_at(0.0, 0.0, 2.0, 60.0))
    assert set(fragments.triangle_id.unique().tolist()) <= {-1, 0}
    assert (fragments.triangle_id == 0).any()
    empty = TorchRasterizer().rasterize(torch.zeros(1, 0, 4), torch.zeros(0, 3, dtype=torch.int64), (8, 8))
    assert (empty.triangle_id == -1).all()


def test_bad_inputs_are_named():
    rasterizer = TorchRasterizer()
    with pytest.raises(ValueError, match=r"clip_vertices must be \[B, V, 4\], got \[3, 4\]"):
        rasterizer.rasterize(torch.zeros(3, 4), torch.zeros(1, 3, dtype=torch.int64), (8, 8))
    with pytest.raises(ValueError, match="faces index vertices"):
        rasterizer.rasterize(torch.zeros(1, 3, 4), torch.tensor([[0, 1, 3]]), (8, 8))
    with pytest.raises(ValueError, match="chunk_size"):
        TorchRasterizer(chunk_size=0)


def test_make_rasterizer_choices(caplog, monkeypatch):
    with pytest.raises(ValueError, match="bogus.*torch, nvdiffrast, auto"):
        make_rasterizer("bogus")
    assert isinstance(make_rasterizer("torch"), TorchRasterizer)
    monkeypatch.setattr(rasterizer_module, "_announced", set())
    monkeypatch.setattr(rasterizer_module, "nvdiffrast_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="atom.render.rasterizer"):
        assert isinstance(make_rasterizer("auto"), TorchRasterizer)
        make_rasterizer("auto")
    messages = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert messages == [
        ("WARNING", "rasterizer 'auto': nvdiffrast or CUDA unavailable, falling back to torch"),
        ("INFO", "rasterizer backend: torch"),
    ]


@pytest.mark.skipif(not nvdiffrast_available(), reason="needs nvdiffrast and CUDA")
def test_nvdiffrast_matches_torch_backend():
    vertices, faces = _sphere(4)
    cameras = look_at(torch.tensor([20.0, -10.0]), torch.tensor([30.0, 150.0]), 2.5, 40.0)
    clip = _clip(vertices, cameras).cuda()
    faces = faces.cuda()
    results = []
    for rasterizer in (TorchRasterizer(), NvdiffrastRasterizer()):
        fragments = rasterizer.rasterize(clip, faces, (96, 96))
        position = rasterizer.interpolate(vertices.cuda()[None], fragments, faces)
        mask = rasterizer.antialias(fragments.mask[..., None].float(), fragments, clip, faces)
        results.append((fragments, position, mask))
    (torch_fragments, torch_position, torch_mask), (nv_fragments, nv_position, nv_mask) = results
    both = torch_fragments.mask & nv_fragments.mask
    assert (torch_fragments.mask ^ nv_fragments.mask).sum() <= 0.01 * both.sum()
    torch.testing.assert_close(torch_position[both], nv_position[both], atol=1e-4, rtol=0)
    torch.testing.assert_close(torch_fragments.depth[both], nv_fragments.depth[both], atol=1e-4, rtol=0)
    assert (torch_mask - nv_mask).abs().sum() < 0.02 * both.sum()
