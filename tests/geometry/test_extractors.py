import logging
import math

import pytest
import torch

from atom.geometry import (
    extract_mesh,
    flexicubes,
    kaolin_available,
    mesh_extractor,
    tetrahedral_grid,
    voxel_grid,
)
from atom.geometry import extractors as extractors_module

requires_kaolin = pytest.mark.skipif(not kaolin_available(), reason="kaolin is not installed")


def test_torch_backend_returns_the_pure_pytorch_extractors_and_logs_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extractors_module, "_announced", set())
    with caplog.at_level(logging.INFO, logger="atom.geometry.extractors"):
        assert mesh_extractor("flexicubes") is flexicubes
        assert mesh_extractor("flexicubes", "torch") is flexicubes
        assert mesh_extractor("dmtet", "torch") is extract_mesh
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["mesh extractor: flexicubes on the torch backend", "mesh extractor: dmtet on the torch backend"]


def test_unknown_kind_or_backend_raises() -> None:
    with pytest.raises(ValueError, match="unknown mesh extractor 'marching_cubes'; accepted: dmtet, flexicubes"):
        mesh_extractor("marching_cubes")
    with pytest.raises(ValueError, match="unknown geometry backend 'cuda'; accepted: torch, kaolin"):
        mesh_extractor("dmtet", "cuda")


@pytest.mark.skipif(kaolin_available(), reason="kaolin is installed")
def test_kaolin_backend_without_kaolin_raises_instead_of_falling_back() -> None:
    with pytest.raises(ImportError, match="the 'kaolin' geometry backend needs NVIDIA kaolin"):
        mesh_extractor("flexicubes", "kaolin")


@requires_kaolin
@pytest.mark.parametrize("training", [False, True])
def test_kaolin_flexicubes_agrees_on_a_sphere(training: bool) -> None:
    grid = voxel_grid(32)
    # r = 0.49 keeps the field off exact zeros at lattice points: there NVIDIA's reference code orients the
    # faces by `s > 0` while calling `s < 0` inside, and flips a few faces (checked against its code).
    sdf = grid.vertices.norm(dim=-1) - 0.49
    ours = mesh_extractor("flexicubes", "torch")(grid, sdf, training=training)
    theirs = mesh_extractor("flexicubes", "kaolin")(grid, sdf, training=training)
    assert theirs.mesh.num_vertices == ours.mesh.num_vertices
    assert theirs.mesh.num_faces == ours.mesh.num_faces
    # The dual vertices are the same points (their order may differ); the quad split may differ on ties.
    exact = "donot_use_mm_for_euclid_dist"
    nearest = torch.cdist(ours.mesh.vertices, theirs.mesh.vertices, compute_mode=exact).min(dim=1).values
    assert float(nearest.max()) < 1e-5
    assert float(theirs.mesh.area()) == pytest.approx(float(ours.mesh.area()), rel=1e-3)
    assert float(theirs.mesh.volume()) == pytest.approx(float(ours.mesh.volume()), rel=1e-3)
    assert float(theirs.deviation) == pytest.approx(float(ours.deviation), rel=1e-4)


@requires_kaolin
def test_kaolin_marching_tetrahedra_agrees_on_a_sphere() -> None:
    grid = tetrahedral_grid(32)
    sdf = grid.vertices.norm(dim=-1) - 0.5
    ours = mesh_extractor("dmtet", "torch")(grid, sdf)
    theirs = mesh_extractor("dmtet", "kaolin")(grid, sdf)
    assert float(theirs.area()) == pytest.approx(float(ours.area()), rel=1e-3)
    assert float(theirs.volume()) == pytest.approx(float(ours.volume()), rel=1e-3)
    assert float(theirs.volume()) == pytest.approx(4 / 3 * math.pi * 0.125, rel=0.03)
