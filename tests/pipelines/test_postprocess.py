"""Mesh clean-up on synthetic meshes, checked against trimesh."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from atom.geometry import Mesh
from atom.geometry.postprocess import (
    component_labels,
    decimate,
    decimation_available,
    keep_largest_component,
    normalize_to_cube,
    postprocess,
)


def _mesh(tm: trimesh.Trimesh, offset=(0.0, 0.0, 0.0), color=(1.0, 0.0, 0.0)) -> Mesh:
    vertices = torch.tensor(np.asarray(tm.vertices) + np.asarray(offset), dtype=torch.float32)
    colors = torch.tensor(color).expand(len(tm.vertices), 3).clone()
    return Mesh(vertices, torch.tensor(np.asarray(tm.faces)), colors)


def _join(*meshes: Mesh) -> Mesh:
    offsets = np.cumsum([0] + [m.num_vertices for m in meshes[:-1]])
    return Mesh(torch.cat([m.vertices for m in meshes]),
                torch.cat([m.faces + int(o) for m, o in zip(meshes, offsets)]),
                torch.cat([m.vertex_colors for m in meshes]))


@pytest.fixture
def two_parts() -> tuple[Mesh, Mesh, Mesh]:
    big = _mesh(trimesh.creation.icosphere(subdivisions=3, radius=0.5), color=(0.2, 0.4, 0.6))  # 1280 faces
    floater = _mesh(trimesh.creation.box(extents=(0.1, 0.1, 0.1)), offset=(0.8, 0, 0))  # 12 faces, < 1 %
    return big, floater, _join(floater, big)


def test_component_labels_agree_with_trimesh(two_parts):
    _, _, mesh = two_parts
    medium = _mesh(trimesh.creation.icosphere(subdivisions=1, radius=0.2), offset=(0, 0.8, 0))
    mesh = _join(mesh, medium)
    labels, sizes = component_labels(mesh)
    tm = trimesh.Trimesh(mesh.vertices.numpy(), mesh.faces.numpy(), process=False)
    expected = sorted((len(part.faces) for part in tm.split(only_watertight=False)), reverse=True)
    assert sizes.tolist() == expected == [1280, 80, 12]
    assert torch.bincount(labels).tolist() == expected


def test_default_postprocess_drops_the_floater_and_keeps_the_big_part(two_parts):
    big, _, mesh = two_parts
    cleaned = postprocess(mesh)
    assert cleaned.num_faces == big.num_faces and cleaned.num_vertices == big.num_vertices
    torch.testing.assert_close(cleaned.vertices, big.vertices)  # order kept, floater's vertices gone
    torch.testing.assert_close(cleaned.vertex_colors, big.vertex_colors)
    assert torch.equal(cleaned.faces, big.faces)
    kept = postprocess(mesh, min_component_fraction=0.0)
    assert kept.num_faces == mesh.num_faces


def test_largest_component_keeps_only_the_biggest(two_parts):
    big, _, mesh = two_parts
    medium = _mesh(trimesh.creation.icosphere(subdivisions=2, radius=0.3), offset=(0, 1.0, 0))  # 320 faces
    mesh = _join(mesh, medium)
    assert postprocess(mesh).num_faces == big.num_faces + medium.num_faces  # 320 faces is no floater
    largest = keep_largest_component(mesh)
    assert largest.num_faces == big.num_faces
    torch.testing.assert_close(largest.vertices.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    assert postprocess(mesh, largest_component=True).num_faces == big.num_faces


def test_normalisation_fits_the_cube():
    tm = trimesh.creation.box(extents=(0.4, 1.0, 0.2))
    mesh = _mesh(tm, offset=(3.0, -2.0, 0.5))
    normalized = normalize_to_cube(mesh)
    low, high = normalized.vertices.min(0).values, normalized.vertices.max(0).values
    torch.testing.assert_close(low + high, torch.zeros(3), atol=1e-6, rtol=0)  # centred
    torch.testing.assert_close(high - low, torch.tensor([0.8, 2.0, 0.4]), atol=1e-6, rtol=0)  # longest side 2
    bounds = trimesh.Trimesh(normalized.vertices.numpy(), normalized.faces.numpy(), process=False).bounds
    assert np.allclose(bounds, [[-0.4, -1.0, -0.2], [0.4, 1.0, 0.2]], atol=1e-6)
    half = normalize_to_cube(mesh, half_extent=0.5)
    assert float(half.vertices.abs().max()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="zero extent"):
        normalize_to_cube(Mesh(torch.zeros(3, 3), torch.tensor([[0, 1, 2]])))


@pytest.mark.skipif(not decimation_available(), reason="fast-simplification not installed")
def test_decimation_reaches_the_target_and_keeps_the_shape():
    sphere = _mesh(trimesh.creation.icosphere(subdivisions=4, radius=0.5))  # 5120 faces
    reduced = decimate(sphere, 500)
    assert 400 <= reduced.num_faces <= 500 and reduced.vertex_colors is None
    assert float(reduced.volume()) == pytest.approx(float(sphere.volume()), rel=0.05)
    assert decimate(sphere, 10_000) is sphere


def test_bad_options_are_clear_errors(two_parts):
    _, _, mesh = two_parts
    with pytest.raises(ValueError, match=r"min_component_fraction must be in \[0, 1\), got 1.5"):
        postprocess(mesh, min_component_fraction=1.5)
    with pytest.raises(ValueError, match="target_faces must be >= 1, got 0"):
        decimate(mesh, 0)
    assert postprocess(Mesh.empty()).is_empty
