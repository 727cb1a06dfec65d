"""CRM's six orthographic views, CCMs and tile layout, checked against analytic shapes and CRM.md's table."""

import pytest
import torch

from atom.geometry import Mesh
from atom.render import make_rasterizer
from atom.render.cameras import look_at
from atom.render.ccm import CRM_BACKGROUND, ccm_shade, decode_ccm
from atom.render.crm_tiles import crm_unet_input, tile_views, untile_views
from atom.render.crm_views import CRM_VIEW_NAMES, crm_cameras, render_crm_views
from atom.render.mesh_renderer import render_mesh
from atom.toyworld.shapes import SHAPES, toy64

# CRM.md: image right / image up / camera position per view, written out from the table (not from angles).
AXES = {
    "front": ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),
    "left": ((0, 1, 0), (0, 0, 1), (1, 0, 0)),
    "bottom": ((-1, 0, 0), (0, 1, 0), (0, 0, -1)),
    "back": ((1, 0, 0), (0, 0, 1), (0, -1, 0)),
    "right": ((0, -1, 0), (0, 0, 1), (-1, 0, 0)),
    "top": ((-1, 0, 0), (0, -1, 0), (0, 0, 1)),
}


def _offset_sphere(centre, radius, resolution=40):
    """A mesh of a sphere of ``radius`` centred at ``centre`` (the toy sphere, scaled and moved)."""
    base = toy64()[0]  # a sphere of radius 0.55
    assert base.shape.name == "sphere"
    mesh = base.ground_truth_mesh(resolution)
    vertices = mesh.vertices * (radius / 0.55) + torch.tensor(centre)
    return Mesh(vertices, mesh.faces, mesh.vertex_colors)


def _pixel_centres(size):
    """In-plane (u along image right, v along image up) coordinates of pixel centres [S, S] each."""
    centres = -1.0 + (2 * torch.arange(size, dtype=torch.float32) + 1) / size
    v, u = torch.meshgrid(-centres, centres, indexing="ij")  # row 0 is the top: v = +1 side
    return u, v


def test_camera_axes_match_crm_table():
    cameras = crm_cameras()
    c2w = cameras.camera_to_world()
    assert cameras.orthographic and cameras[2].orthographic and cameras.to("cpu").orthographic
    assert torch.equal(cameras[[1, 3]].ortho_extent, torch.ones(2))
    with pytest.raises(ValueError, match="ortho_extent must be > 0"):
        look_at(0.0, 0.0, 3.0, 0.0, ortho_extent=0.0)
    for index, name in enumerate(CRM_VIEW_NAMES):
        right, up, position = (torch.tensor(axis, dtype=torch.float32) for axis in AXES[name])
        torch.testing.assert_close(c2w[index, :3, 0], right, atol=1e-6, rtol=0)
        torch.testing.assert_close(c2w[index, :3, 1], up, atol=1e-6, rtol=0)
        direction = c2w[index, :3, 3] / c2w[index, :3, 3].norm()
        torch.testing.assert_close(direction, position, atol=1e-6, rtol=0)


def test_orthographic_rays_meet_their_pixel_and_are_parallel():
    cameras = look_at(torch.tensor([20.0, -90.0]), torch.tensor([30.0, 0.0]), 3.0, 0.0, ortho_extent=1.2)
    height, width = 6, 10
    origins, directions = cameras.rays(height, width)
    assert torch.allclose(directions, directions[:, :1].expand_as(directions))
    points = origins + 1.7 * directions
    clip = torch.cat([points, torch.ones_like(points[..., :1])], -1) @ cameras.world_to_clip(
        aspect=width / height
    ).transpose(1, 2)
    torch.testing.assert_close(clip[..., 3], torch.ones(2, height * width))
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    expected_x = (cols.reshape(-1) + 0.5) * 2 / width - 1
    expected_y = 1 - (rows.reshape(-1) + 0.5) * 2 / height
    torch.testing.assert_close(clip[..., 0], expected_x.expand(2, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(clip[..., 1], expected_y.expand(2, -1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("centre", [(0.35, -0.25, 0.15), (-0.3, 0.4, -0.2)])
def test_each_view_silhouette_matches_the_analytic_projection(centre):
    """An off-centre sphere: a left/right or up/down flip moves its disc and fails the comparison."""
    size, radius = 48, 0.3
    mesh = _offset_sphere(centre, radius)
    views = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, size, make_rasterizer("torch"))
    u, v = _pixel_centres(size)
    texel = 2.0 / size
    centre_t = torch.tensor(centre)
    for index, name in enumerate(CRM_VIEW_NAMES):
        right, up, _ = (torch.tensor(axis, dtype=torch.float32) for axis in AXES[name])
        distance = torch.sqrt((u - centre_t @ right) ** 2 + (v - centre_t @ up) ** 2)
        inside, outside = distance < radius - 1.5 * texel, distance > radius + 1.5 * texel
        mask = views.mask[index, 0] > 0.5
        assert mask[inside].all(), name
        assert not mask[outside].any(), name
        assert inside.sum() > 50


def test_background_is_crm_grey_and_colors_are_the_vertex_colors():
    mesh = toy64()[1].ground_truth_mesh(24)  # a green sphere
    views = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, 32, make_rasterizer("torch"))
    grey = torch.tensor(CRM_BACKGROUND, dtype=torch.float32)
    assert torch.all(views.ccm.masked_select(views.mask == 0) == grey)
    # Color edges are antialiased: background pixels next to the silhouette may blend.
    far = torch.nn.functional.max_pool2d(views.mask, 3, stride=1, padding=1) == 0
    assert torch.all(views.rgb.masked_select(far) == grey)
    interior = views.mask[:, 0, 10:22, 10:22] > 0
    torch.testing.assert_close(
        views.rgb[:, :, 10:22, 10:22].permute(0, 2, 3, 1)[interior],
        mesh.vertex_colors[0].expand(int(interior.sum()), 3),
    )


@pytest.mark.parametrize("shape_name", ["cube", "torus", "cone"])
def test_ccm_pixels_decode_to_points_on_the_surface(shape_name):
    shape = next(shape for shape in SHAPES if shape.name == shape_name)
    obj = next(obj for obj in toy64() if obj.shape is shape)
    mesh = obj.ground_truth_mesh(64)
    size = 48
    views = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, size, make_rasterizer("torch"))
    points = decode_ccm(views.ccm).permute(0, 2, 3, 1)  # [6, S, S, 3]
    covered = views.mask[:, 0] > 0.5
    texel = 2.0 / size
    assert covered.sum() > 500
    assert shape.sdf(points[covered]).abs().max() < texel
    # The decoded point also lies on its pixel's ray: its in-plane coordinates are the pixel centre's.
    u, v = _pixel_centres(size)
    for index, name in enumerate(CRM_VIEW_NAMES):
        right, up, _ = (torch.tensor(axis, dtype=torch.float32) for axis in AXES[name])
        here = covered[index]
        assert (points[index][here] @ right - u[here]).abs().max() < 1e-3
        assert (points[index][here] @ up - v[here]).abs().max() < 1e-3


def test_orthographic_depth_is_the_distance_along_the_view_axis():
    mesh = _offset_sphere((0.0, 0.0, 0.0), 0.5, resolution=48)
    cameras = crm_cameras(distance=3.0)
    out = render_mesh(mesh.vertices, mesh.faces, cameras, 32, make_rasterizer("torch"))
    u, v = _pixel_centres(32)
    inside = (u**2 + v**2) < 0.4**2
    expected = 3.0 - torch.sqrt((0.5**2 - u**2 - v**2).clamp_min(0))
    for index in range(6):
        assert (out.depth[index, 0][inside] - expected[inside]).abs().max() < 0.01


def test_tiles_put_each_point_on_its_plane_grid_coordinates():
    """A small off-centre marker: its tile pixels' grid coordinates (a, b) must be its plane coordinates."""
    size, centre, radius = 33, (0.5, -0.3, 0.2), 0.12
    mesh = _offset_sphere(centre, radius, resolution=32)
    views = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, size, make_rasterizer("torch"))
    tiles = tile_views(views.mask[None])[0]  # [2, S, 3S]
    plane_coordinates = {"xy": (0, 1), "yz": (1, 2), "zx": (2, 0)}
    for row in range(2):
        for plane, (first, second) in enumerate(plane_coordinates.values()):
            tile = tiles[row, :, plane * size : (plane + 1) * size]
            rows, cols = tile.nonzero(as_tuple=True)
            assert rows.numel() > 10
            a = (-1 + 2 * cols.float() / (size - 1)).mean()
            b = (-1 + 2 * rows.float() / (size - 1)).mean()
            texel = 2.0 / (size - 1)
            assert abs(float(a) - centre[first]) < texel, (row, plane)
            assert abs(float(b) - centre[second]) < texel, (row, plane)


def test_unet_input_reverses_ccm_channels_and_keeps_each_planes_normal_coordinate():
    size, centre, radius = 33, (0.5, -0.3, 0.2), 0.12
    mesh = _offset_sphere(centre, radius, resolution=32)
    views = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, size, make_rasterizer("torch"))
    unet_input = crm_unet_input(views.rgb[None], views.ccm[None])[0]
    assert unet_input.shape == (12, size, 3 * size)
    torch.testing.assert_close(unet_input[:6], tile_views(views.rgb[None])[0])
    mask = tile_views(views.mask[None])[0]
    # Plane xy keeps Z in channel 0, yz keeps X in channel 2, zx keeps Y in channel 1 (reversed order).
    kept = {0: (0, 2), 1: (2, 0), 2: (1, 1)}  # plane -> (channel, world axis)
    for row in range(2):
        ccm = unet_input[6 + 3 * row : 9 + 3 * row]
        for plane, (channel, axis) in kept.items():
            block = ccm[:, :, plane * size : (plane + 1) * size]
            covered = mask[row, :, plane * size : (plane + 1) * size] > 0.5
            coordinate = block[channel][covered] * 2 - 1
            assert (coordinate - centre[axis]).abs().max() <= radius + 0.02
            others = [c for c in range(3) if c != channel]
            assert torch.all(block[others] == 0)


def test_tile_turns_follow_the_index_formulas():
    """A second implementation: CRM.md's index formulas, pixel by pixel."""
    size = 5
    views = torch.arange(6 * size * size, dtype=torch.float32).reshape(1, 6, 1, size, size)
    tiles = tile_views(views)[0]
    view = {name: views[0, index, 0] for index, name in enumerate(CRM_VIEW_NAMES)}
    formulas = {
        (0, 0): lambda r, c: view["bottom"][size - 1 - r, size - 1 - c],
        (0, 1): lambda r, c: view["right"][size - 1 - r, size - 1 - c],
        (0, 2): lambda r, c: view["front"][size - 1 - c, size - 1 - r],
        (1, 0): lambda r, c: view["top"][r, size - 1 - c],
        (1, 1): lambda r, c: view["left"][size - 1 - r, c],
        (1, 2): lambda r, c: view["back"][size - 1 - c, r],
    }
    for (row, plane), formula in formulas.items():
        for r in range(size):
            for c in range(size):
                assert tiles[row, r, plane * size + c] == formula(r, c)


@pytest.mark.parametrize("size", [4, 7])
def test_tile_untile_round_trips_exactly(size):
    views = torch.rand(2, 6, 5, size, size)
    tiles = tile_views(views)
    assert tiles.shape == (2, 10, size, 3 * size)
    assert torch.equal(untile_views(tiles), views)
    assert torch.equal(tile_views(untile_views(tiles)), tiles)


def test_bad_inputs_name_the_expected_form():
    with pytest.raises(ValueError, match=r"\[\.\.\., 6, C, S, S\]"):
        tile_views(torch.rand(5, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[\.\.\., 2 C, S, 3 S\]"):
        untile_views(torch.rand(6, 8, 20))
    with pytest.raises(ValueError, match="ccm values must be in"):
        crm_unet_input(torch.rand(1, 6, 3, 8, 8), torch.rand(1, 6, 3, 8, 8) + 0.5)
    with pytest.raises(ValueError, match=r"rgb must be \[B, 6, 3, S, S\]"):
        crm_unet_input(torch.rand(1, 4, 3, 8, 8), torch.rand(1, 6, 3, 8, 8))
    with pytest.raises(ValueError, match="ccm values must be in"):
        decode_ccm(torch.full((3, 2, 2), 1.5))
    with pytest.raises(ValueError, match=r"mask must be"):
        ccm_shade(torch.rand(1, 3, 4, 4), torch.rand(1, 1, 5, 4))
