import numpy as np
import pytest
import torch
import trimesh

from atom.geometry.mesh import vertex_normals
from atom.render.cameras import look_at
from atom.render.mesh_renderer import composite, render_mesh
from atom.render.torch_rasterizer import TorchRasterizer


def _sphere(subdivisions: int, radius: float = 0.5):
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return (
        torch.tensor(mesh.vertices, dtype=torch.float32),
        torch.tensor(mesh.faces, dtype=torch.int64),
        torch.tensor(mesh.edges_unique, dtype=torch.int64),
    )


def test_sphere_buffers_match_the_analytic_surface():
    vertices, faces, _ = _sphere(4)
    cameras = look_at(torch.tensor([15.0, -20.0]), torch.tensor([0.0, 120.0]), 2.5, 40.0)
    colors = torch.rand(1, len(vertices), 2)
    out = render_mesh(vertices, faces, cameras, 64, TorchRasterizer(), attributes=colors)
    assert out.mask.shape == (2, 1, 64, 64) and out.position.shape == (2, 3, 64, 64)
    assert out.attributes.shape == (2, 2, 64, 64) and out.triangle_id.shape == (2, 64, 64)
    covered = out.triangle_id >= 0
    points = out.position.permute(0, 2, 3, 1)[covered]
    normals = out.normal.permute(0, 2, 3, 1)[covered]
    # Surface points lie on the (inscribed) sphere; normals point radially outwards, unit length.
    assert ((points.norm(dim=-1) - 0.5).abs() < 2e-3).all()
    torch.testing.assert_close(normals.norm(dim=-1), torch.ones(len(normals)))
    assert ((normals * points / points.norm(dim=-1, keepdim=True)).sum(-1) > 0.999).all()
    # Depth is the distance along the view axis to the visible (front) surface point.
    forward = -cameras.camera_to_world()[:, :3, 2]
    camera_space = (
        (out.position.permute(0, 2, 3, 1) - cameras.position()[:, None, None]) * forward[:, None, None]
    ).sum(-1)
    torch.testing.assert_close(out.depth[:, 0][covered], camera_space[covered], atol=1e-5, rtol=0)
    assert (out.depth[:, 0][covered] < 2.5).all()  # front half only
    for image in (out.position, out.normal, out.depth, out.attributes):
        assert (image.permute(0, 2, 3, 1)[~covered] == 0).all()
    assert (out.hard_mask[:, 0] == covered.float()).all()
    # The antialiased image of an image equals the mask where the image is the hard mask.
    torch.testing.assert_close(out.antialias(out.hard_mask), out.mask)


def test_batch_of_meshes_equals_separate_renders():
    vertices, faces, _ = _sphere(2)
    cameras = look_at(torch.tensor([10.0, 30.0]), torch.tensor([0.0, 90.0]), 2.5, 40.0)
    meshes = torch.stack([vertices, vertices * torch.tensor([1.2, 0.8, 1.0])])
    rasterizer = TorchRasterizer()
    together = render_mesh(meshes, faces, cameras, 32, rasterizer)
    for b in range(2):
        alone = render_mesh(meshes[b], faces, cameras[b], 32, rasterizer)
        torch.testing.assert_close(together.mask[b], alone.mask[0])
        torch.testing.assert_close(together.position[b], alone.position[0])
    with pytest.raises(ValueError, match=r"vertices must be .*got \[3, 162, 3\]"):
        render_mesh(torch.stack([vertices] * 3), faces, cameras, 32, rasterizer)


def test_empty_mesh_renders_background():
    cameras = look_at(torch.tensor([0.0, 20.0]), 0.0, 2.5, 40.0)
    vertices = torch.zeros(0, 3, requires_grad=True)
    out = render_mesh(
        vertices,
        torch.zeros(0, 3, dtype=torch.int64),
        cameras,
        16,
        TorchRasterizer(),
        attributes=torch.zeros(0, 4),
    )
    assert out.mask.shape == (2, 1, 16, 16) and (out.mask == 0).all()
    assert out.attributes.shape == (2, 4, 16, 16)
    assert (out.triangle_id == -1).all() and (out.depth == 0).all() and (out.position == 0).all()
    out.mask.sum().backward()  # a loss on an empty render still backpropagates
    some_vertices, _, _ = _sphere(1)
    out = render_mesh(some_vertices, torch.zeros(0, 3, dtype=torch.int64), cameras, 16, TorchRasterizer())
    assert (out.mask == 0).all()
    image = torch.rand(2, 3, 16, 16)
    assert torch.equal(out.antialias(image), image)


def test_silhouette_optimisation_recovers_a_target_shape():
    """Per-vertex offsets fitted to the antialiased masks of an offset ellipsoid, through the mask alone."""
    vertices, faces, _ = _sphere(3)
    cameras = look_at(
        torch.tensor([0.0, 20.0, -10.0, 60.0]), torch.tensor([0.0, 90.0, 200.0, 300.0]), 2.5, 40.0
    )
    rasterizer = TorchRasterizer()
    with torch.no_grad():
        target_vertices = vertices * torch.tensor([1.25, 0.9, 1.1]) + torch.tensor([0.05, 0.0, 0.05])
        target = render_mesh(target_vertices, faces, cameras, 64, rasterizer).mask
    offsets = torch.zeros_like(vertices, requires_grad=True)
    optimizer = torch.optim.Adam([offsets], lr=0.01)
    losses = []
    for _ in range(100):
        loss = ((render_mesh(vertices + offsets, faces, cameras, 64, rasterizer).mask - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.1 * losses[0]


def test_vertex_normals_are_area_weighted_face_normals():
    vertices, faces, _ = _sphere(2)
    vertices = vertices * torch.tensor([1.0, 0.7, 1.3])  # an ellipsoid: weighting matters
    expected = np.zeros((len(vertices), 3))
    for face in faces.numpy():
        corner = vertices.double().numpy()[face]
        expected[face] += np.cross(corner[1] - corner[0], corner[2] - corner[0])  # |.| = twice the area
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    normals = vertex_normals(vertices[None], faces)[0]
    np.testing.assert_allclose(normals.numpy(), expected, atol=1e-5)
    assert ((normals * vertices).sum(-1) > 0).all()  # outwards


def test_composite():
    rgb = torch.rand(2, 3, 4, 5)
    mask = torch.rand(2, 1, 4, 5)
    for background in (torch.tensor([0.1, 0.2, 0.3]), torch.rand(2, 3), torch.rand(2, 3, 4, 5)):
        expanded = background.view(-1, 3, 1, 1) if background.dim() < 4 else background
        torch.testing.assert_close(composite(rgb, mask, background), rgb * mask + expanded * (1 - mask))
    torch.testing.assert_close(composite(rgb, torch.ones_like(mask), torch.zeros(3)), rgb)
    with pytest.raises(ValueError, match="background must be"):
        composite(rgb, mask, torch.rand(3, 3))
    with pytest.raises(ValueError, match="mask must be"):
        composite(rgb, mask[:, :, :2], torch.zeros(3))
