"""Regularisers against values worked out by hand."""

import pytest
import torch
import trimesh

from atom.geometry.mesh import mesh_edges
from atom.training.regularizers import eikonal_loss, normal_consistency_loss


def test_eikonal_is_zero_for_unit_gradients_and_grows_off_them():
    unit = torch.nn.functional.normalize(torch.randn(100, 3), dim=-1)
    assert eikonal_loss(unit).item() == pytest.approx(0.0, abs=1e-10)
    assert eikonal_loss(2.0 * unit).item() == pytest.approx(1.0, rel=1e-5)


def test_normal_consistency_of_a_flat_patch_and_a_cube():
    flat_v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    flat_f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    assert normal_consistency_loss(flat_v, flat_f).item() == pytest.approx(0.0, abs=1e-7)
    box = trimesh.creation.box()
    # 18 edges: the 12 cube edges join perpendicular faces (1 - cos = 1), the 6 face diagonals flat ones (0)
    value = normal_consistency_loss(torch.tensor(box.vertices, dtype=torch.float32),
                                    torch.tensor(box.faces, dtype=torch.long)).item()
    assert value == pytest.approx(12 / 18, rel=1e-5)


def test_mesh_edges_of_a_cube_against_trimesh():
    box = trimesh.creation.box()
    edges, edge_faces = mesh_edges(torch.tensor(box.faces, dtype=torch.long))
    expected = sorted(map(tuple, box.edges_unique.tolist()))
    assert sorted(map(tuple, edges.sort(dim=1).values.tolist())) == expected
    # closed mesh: every edge has two faces, and both contain the edge
    assert (edge_faces >= 0).all()
    faces = torch.tensor(box.faces)
    for (a, b), pair in zip(edges.tolist(), edge_faces.tolist()):
        assert all({a, b} <= set(faces[f].tolist()) for f in pair)
    assert mesh_edges(torch.zeros(0, 3, dtype=torch.long))[0].shape == (0, 2)
