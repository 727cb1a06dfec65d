import numpy as np
import pytest
import torch
import trimesh

from atom.geometry import Mesh


def _icosphere(radius: float = 0.7) -> tuple[trimesh.Trimesh, Mesh]:
    tm = trimesh.creation.icosphere(subdivisions=2, radius=radius)
    return tm, Mesh.from_trimesh(tm)


def test_measures_match_trimesh() -> None:
    tm, mesh = _icosphere()
    np.testing.assert_allclose(mesh.face_normals().numpy(), tm.face_normals, atol=1e-5)
    np.testing.assert_allclose(mesh.face_areas().numpy(), tm.area_faces, rtol=1e-5)
    np.testing.assert_allclose(float(mesh.area()), tm.area, rtol=1e-5)
    np.testing.assert_allclose(float(mesh.volume()), tm.volume, rtol=1e-5)
    assert float(mesh.volume()) > 0
    assert (mesh.num_vertices, mesh.num_faces, mesh.is_empty) == (len(tm.vertices), len(tm.faces), False)


def test_vertex_normals_are_area_weighted() -> None:
    tm, mesh = _icosphere()
    summed = np.zeros_like(tm.vertices)
    for corner in range(3):
        np.add.at(summed, tm.faces[:, corner], tm.face_normals * tm.area_faces[:, None])
    expected = summed / np.linalg.norm(summed, axis=1, keepdims=True)
    np.testing.assert_allclose(mesh.vertex_normals().numpy(), expected, atol=1e-5)
    # On a sphere they point along the radius.
    radial = tm.vertices / np.linalg.norm(tm.vertices, axis=1, keepdims=True)
    assert np.min(np.sum(mesh.vertex_normals().numpy() * radial, axis=1)) > 0.99


def test_reversed_faces_give_negative_volume_and_inward_normals() -> None:
    _, mesh = _icosphere()
    flipped = Mesh(mesh.vertices, mesh.faces[:, [0, 2, 1]])
    torch.testing.assert_close(flipped.volume(), -mesh.volume())
    torch.testing.assert_close(flipped.face_normals(), -mesh.face_normals())


def test_area_and_volume_gradients_match_finite_differences() -> None:
    _, mesh = _icosphere()
    vertices = mesh.vertices.double() + 0.01 * torch.randn(mesh.num_vertices, 3, dtype=torch.float64)
    vertices.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: Mesh(v, mesh.faces).area(), (vertices,))
    assert torch.autograd.gradcheck(lambda v: Mesh(v, mesh.faces).volume(), (vertices,))


def test_degenerate_face_gives_finite_normals_and_gradients() -> None:
    # Second face is a sliver with all three corners on one line, third one collapses to a point.
    corners = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    vertices = torch.tensor(corners, requires_grad=True)
    faces = torch.tensor([[0, 1, 2], [0, 1, 3], [4, 4, 4]])
    mesh = Mesh(vertices, faces)
    normals = mesh.face_normals()
    assert torch.isfinite(normals).all()
    torch.testing.assert_close(normals[0], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(normals[1:], torch.zeros(2, 3))
    loss = normals.sum() + mesh.vertex_normals().sum() + mesh.area() + mesh.volume()
    loss.backward()
    assert torch.isfinite(vertices.grad).all()


def test_validation_errors_name_expected_and_actual() -> None:
    faces = torch.tensor([[0, 1, 2]])
    with pytest.raises(ValueError, match=r"vertices must be a \[V, 3\] tensor, got \[5, 2\]"):
        Mesh(torch.zeros(5, 2), faces)
    with pytest.raises(ValueError, match=r"faces must be a \[F, 3\] tensor, got \[1, 4\]"):
        Mesh(torch.zeros(5, 3), torch.tensor([[0, 1, 2, 3]]))
    with pytest.raises(ValueError, match="faces must be an integer tensor"):
        Mesh(torch.zeros(5, 3), faces.float())
    with pytest.raises(ValueError, match="vertices must be floating point"):
        Mesh(torch.zeros(5, 3, dtype=torch.long), faces)
    with pytest.raises(ValueError, match=r"faces index vertices 0\.\.7, but only 0\.\.4 exist"):
        Mesh(torch.zeros(5, 3), torch.tensor([[0, 1, 7]]))
    with pytest.raises(ValueError, match=r"vertex_colors must be a \[5, 3\] tensor .* got \[4, 3\]"):
        Mesh(torch.zeros(5, 3), faces, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="expected a trimesh.Trimesh, got Scene"):
        Mesh.from_trimesh(trimesh.Scene())


def test_int32_faces_become_int64() -> None:
    mesh = Mesh(torch.zeros(3, 3), torch.tensor([[0, 1, 2]], dtype=torch.int32))
    assert mesh.faces.dtype == torch.int64


def test_trimesh_round_trip_keeps_geometry_and_colors() -> None:
    _, mesh = _icosphere()
    colors = torch.rand(mesh.num_vertices, 3)
    colored = Mesh(mesh.vertices, mesh.faces, colors)
    back = Mesh.from_trimesh(colored.to_trimesh())
    torch.testing.assert_close(back.vertices, mesh.vertices)
    assert torch.equal(back.faces, mesh.faces)
    assert back.vertex_colors is not None
    assert (back.vertex_colors - colors).abs().max() <= 0.5 / 255 + 1e-6


def test_empty_detach_and_to() -> None:
    empty = Mesh.empty()
    assert empty.is_empty and empty.num_vertices == 0 and float(empty.area()) == 0.0
    assert float(empty.volume()) == 0.0
    assert empty.vertex_normals().shape == (0, 3)

    _, mesh = _icosphere()
    vertices = mesh.vertices.clone().requires_grad_(True)
    attached = Mesh(vertices, mesh.faces, torch.rand(mesh.num_vertices, 3))
    detached = attached.detach()
    assert not detached.vertices.requires_grad
    moved = attached.to("cpu")
    assert moved.vertices.device.type == "cpu" and moved.vertex_colors is not None
