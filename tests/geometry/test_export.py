from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from atom.geometry import Mesh, export_mesh, load_mesh


def _colored_mesh() -> Mesh:
    """An icosphere of radius 0.3 centred at z = 0.6 (entirely above the ground plane), random colors."""
    mesh = Mesh.from_trimesh(trimesh.creation.icosphere(subdivisions=2, radius=0.3))
    return Mesh(mesh.vertices + torch.tensor([0.1, -0.2, 0.6]), mesh.faces, torch.rand(mesh.num_vertices, 3))


def test_glb_round_trip_with_plain_trimesh(tmp_path: Path) -> None:
    mesh = _colored_mesh()
    path = export_mesh(mesh, tmp_path / "sub" / "mesh.glb")
    assert path == tmp_path / "sub" / "mesh.glb" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["mesh.glb"]  # no temporary file left behind
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.vertices) == mesh.num_vertices and len(loaded.faces) == mesh.num_faces
    expected = (mesh.vertex_colors.numpy() * 255).round()
    np.testing.assert_allclose(np.asarray(loaded.visual.vertex_colors)[:, :3], expected, atol=1)
    # +Z up in the project is +Y up in the file: (x, y, z) -> (x, z, -y).
    assert loaded.vertices[:, 1].min() > 0
    v = mesh.vertices.numpy()
    np.testing.assert_allclose(loaded.vertices, np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1), atol=1e-6)
    assert loaded.is_winding_consistent and loaded.volume > 0  # still outward after the rotation


@pytest.mark.parametrize("suffix", ["glb", "obj", "ply"])
def test_round_trip_through_load_mesh(tmp_path: Path, suffix: str) -> None:
    mesh = _colored_mesh()
    back = load_mesh(export_mesh(mesh, tmp_path / f"mesh.{suffix}"))
    torch.testing.assert_close(back.vertices, mesh.vertices, atol=1e-6, rtol=0)
    assert torch.equal(back.faces, mesh.faces)
    assert back.vertex_colors is not None
    assert (back.vertex_colors - mesh.vertex_colors).abs().max() <= 1 / 255


def test_explicit_file_type_and_uncolored_mesh(tmp_path: Path) -> None:
    mesh = _colored_mesh()
    plain = Mesh(mesh.vertices, mesh.faces)
    path = export_mesh(plain, tmp_path / "mesh.bin", file_type="PLY")
    assert trimesh.load(path, file_type="ply", force="mesh", process=False).faces.shape == (mesh.num_faces, 3)


def test_errors(tmp_path: Path) -> None:
    mesh = _colored_mesh()
    with pytest.raises(ValueError, match="unsupported mesh file type 'stl'.*accepted: glb, obj, ply"):
        export_mesh(mesh, tmp_path / "mesh.stl")
    with pytest.raises(ValueError, match="cannot export an empty mesh"):
        export_mesh(Mesh.empty(), tmp_path / "empty.glb")
    with pytest.raises(ValueError, match="unsupported mesh file type 'txt'"):
        load_mesh(tmp_path / "mesh.txt")
    assert list(tmp_path.iterdir()) == []
