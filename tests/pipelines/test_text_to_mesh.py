"""The TextToMeshPipeline API on the tiny checkpoint: batching, the surface-only deformation, color queries,
checkpoint errors, old checkpoints (DMTet) and FlexiCubes extraction."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from atom.geometry import extract_mesh, flexicubes, tetrahedral_grid, voxel_grid
from atom.manifest import MANIFEST_NAME
from atom.model import CheckpointError, surface_deformation, triplanes_to_meshes
from atom.pipelines import TextToMeshPipeline


def test_batched_generation_matches_one_prompt_at_a_time(pipeline):
    prompts = ["a red cube", "a blue sphere", "a green cone"]
    batched = pipeline(prompts, grid_resolution=10)
    assert len(batched) == 3 and all(m.num_faces > 0 and m.vertex_colors is not None for m in batched)
    for prompt, mesh in zip(prompts, batched):
        single = pipeline(prompt, grid_resolution=10)[0]
        assert torch.equal(single.faces, mesh.faces)
        torch.testing.assert_close(single.vertices, mesh.vertices, rtol=0, atol=1e-5)
    assert batched[0].num_vertices != batched[1].num_vertices or not torch.allclose(
        batched[0].vertices, batched[1].vertices), "different prompts should give different shapes"


def test_surface_deformation_gives_the_mesh_of_the_full_deformation(pipeline):
    model = pipeline.model
    triplanes = pipeline.triplanes(pipeline.encode(["a red cube", "a green cone"]))
    grid = tetrahedral_grid(12)
    with torch.no_grad():
        fast = triplanes_to_meshes(model, triplanes, grid, color=False)
        for b, mesh in enumerate(fast):
            sdf = model.sdf(triplanes[b : b + 1], grid.vertices[None])[0]
            full = model.deformation(triplanes[b : b + 1], grid.vertices[None], grid.cell_size)[0]
            assert full.abs().max() > 1e-4, "the test checkpoint should deform the grid"
            reference = extract_mesh(grid, sdf, full)
            assert torch.equal(mesh.faces, reference.faces)
            torch.testing.assert_close(mesh.vertices, reference.vertices, rtol=0, atol=1e-6)
            sparse = surface_deformation(model, triplanes[b : b + 1], grid, sdf)
            queried = sparse.abs().sum(-1) > 0
            assert queried.float().mean() < 0.5, "only vertices next to the surface should be queried"


def test_colors_match_the_color_head_in_any_number_of_chunks(pipeline, monkeypatch):
    triplane = pipeline.triplanes(pipeline.encode(["a red cube"]))[0]
    points = torch.rand(1000, 3) * 2 - 1
    with torch.no_grad():
        expected = pipeline.model.color(triplane[None], points[None])[0]
    monkeypatch.setattr("atom.pipelines.text_to_mesh.COLOR_CHUNK", 64)
    torch.testing.assert_close(pipeline.colors(triplane, points), expected)
    assert pipeline.colors(triplane, torch.zeros(0, 3)).shape == (0, 3)
    with pytest.raises(ValueError, match=r"points must be \[N, 3\], got \[5, 2\]"):
        pipeline.colors(triplane, torch.zeros(5, 2))


def _copy(checkpoint, tmp_path):
    return shutil.copytree(checkpoint, tmp_path / "copy")


def test_missing_and_corrupt_checkpoints_are_clear_errors(tiny_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        TextToMeshPipeline.from_pretrained(tmp_path / "nowhere")
    corrupt = _copy(tiny_checkpoint, tmp_path)
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: size check failed"):  # the manifest's check
        TextToMeshPipeline.from_pretrained(corrupt)
    (corrupt / MANIFEST_NAME).unlink()  # as a checkpoint written before manifests: the loader's own error
    with pytest.raises(CheckpointError, match="cannot load the model"):
        TextToMeshPipeline.from_pretrained(corrupt)


def test_checkpoint_from_other_code_is_a_clear_error(tiny_checkpoint, tmp_path):
    foreign = _copy(tiny_checkpoint, tmp_path)
    (foreign / MANIFEST_NAME).unlink()  # edited by hand below: no manifest vouches for it
    config = json.loads((foreign / "config.json").read_text())
    (foreign / "config.json").write_text(json.dumps({**config, "new_layer_width": 7}))
    with pytest.raises(CheckpointError, match="new_layer_width"):
        TextToMeshPipeline.from_pretrained(foreign)
    (foreign / "config.json").write_text(json.dumps(config))
    train_config = foreign / "train_config.yaml"
    train_config.write_text(train_config.read_text() + "renamed_section:\n  x: 1\n")
    with pytest.raises(CheckpointError, match="does not match this version"):
        TextToMeshPipeline.from_pretrained(foreign)


def test_surface_deformation_keeps_the_gradients_of_the_full_deformation(pipeline):
    model = pipeline.model
    triplanes = pipeline.triplanes(pipeline.encode(["a blue sphere"]))
    grid = tetrahedral_grid(10)
    head = model.deformation_head.net[-1].weight

    def gradient(mesh_of) -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        mesh_of().vertices.square().sum().backward()
        return head.grad.clone()

    def full():
        sdf = model.sdf(triplanes, grid.vertices[None])[0]
        return extract_mesh(grid, sdf, model.deformation(triplanes, grid.vertices[None], grid.cell_size)[0])

    fast = gradient(lambda: triplanes_to_meshes(model, triplanes, grid, color=False)[0])
    assert fast.abs().max() > 0
    torch.testing.assert_close(fast, gradient(full), rtol=1e-4, atol=1e-7)
    model.zero_grad(set_to_none=True)


def _strip_new_keys(checkpoint, tmp_path):
    """A copy of ``checkpoint`` whose config.json lacks the keys added with FlexiCubes (as written before)."""
    old = _copy(checkpoint, tmp_path)
    config = json.loads((old / "config.json").read_text())
    for key in ("extractor", "flexicubes_weight_scale"):
        config.pop(key)
    (old / "config.json").write_text(json.dumps(config))
    (old / MANIFEST_NAME).unlink()  # checkpoints written before FlexiCubes had no manifest either
    return old


def test_an_old_checkpoint_loads_and_extracts_with_dmtet(pipeline, tiny_checkpoint, tmp_path):
    old = TextToMeshPipeline.from_pretrained(_strip_new_keys(tiny_checkpoint, tmp_path))
    assert old.extractor == "dmtet" and old.model.weight_head is None
    assert "flexicubes_weights" not in old.model.parameter_groups()
    triplanes = old.triplanes(old.encode(["a red cube"]))
    mesh = old.meshes(triplanes, grid_resolution=10)[0]
    grid = tetrahedral_grid(10)
    with torch.no_grad():  # the DMTet mesh of the same fields, extracted directly
        sdf = old.model.sdf(triplanes, grid.vertices[None])[0]
        reference = extract_mesh(grid, sdf, old.model.deformation(triplanes, grid.vertices[None], grid.cell_size)[0])
    assert mesh.num_faces > 0 and torch.equal(mesh.faces, reference.faces)
    torch.testing.assert_close(mesh.vertices, reference.vertices, rtol=0, atol=1e-6)


def test_flexicubes_on_a_dmtet_checkpoint_uses_the_default_weights(pipeline, tiny_checkpoint, tmp_path):
    """FlexiCubes asked of a model without a weight head: every raw weight 0; deformation and weights are queried
    only on the surface cubes, which gives the mesh of the full deformation."""
    flexi = TextToMeshPipeline.from_pretrained(_strip_new_keys(tiny_checkpoint, tmp_path), extractor="flexicubes")
    triplanes = flexi.triplanes(flexi.encode(["a green cone"]))
    mesh = flexi.meshes(triplanes, grid_resolution=12, color=False)[0]
    grid = voxel_grid(12)
    with torch.no_grad():
        sdf = flexi.model.sdf(triplanes, grid.vertices[None])[0]
        full = flexi.model.deformation(triplanes, grid.vertices[None], grid.cell_size)[0]
        reference = flexicubes(grid, sdf, deformation=full).mesh
    assert mesh.num_faces > 0 and torch.equal(mesh.faces, reference.faces)
    torch.testing.assert_close(mesh.vertices, reference.vertices, rtol=0, atol=1e-6)
    # (not checked watertight: the untrained tiny model's surface may leave the grid, where any extractor cuts it)


def test_flexicubes_surface_queries_give_the_mesh_of_full_queries(tiny_assets_flexi):
    """With the weight head, weights and offsets queried for every cube and vertex give the same mesh."""
    pipe = TextToMeshPipeline.from_pretrained(tiny_assets_flexi)
    triplanes = pipe.triplanes(pipe.encode(["a blue sphere"]))
    mesh = pipe.meshes(triplanes, grid_resolution=12, color=False)[0]
    grid = voxel_grid(12)
    with torch.no_grad():
        sdf = pipe.model.sdf(triplanes, grid.vertices[None])[0]
        full = pipe.model.deformation(triplanes, grid.vertices[None], grid.cell_size)[0]
        weights = pipe.model.flexicubes_weights(triplanes, grid.vertices[grid.cubes][None])[0]
        assert weights.abs().max() > 1e-3, "the test checkpoint's weight head should move the weights"
        reference = flexicubes(grid, sdf, weights[:, :12], weights[:, 12:20], weights[:, 20], full,
                               weight_scale=pipe.model.config.flexicubes_weight_scale).mesh
    assert torch.equal(mesh.faces, reference.faces)
    torch.testing.assert_close(mesh.vertices, reference.vertices, rtol=0, atol=1e-6)


def test_an_unknown_extractor_is_a_clear_error(pipeline):
    with pytest.raises(ValueError, match="unknown mesh extractor 'marching_cubes'; accepted: dmtet, flexicubes"):
        TextToMeshPipeline(pipeline.model, pipeline.text_encoder, extractor="marching_cubes")


def test_a_flexicubes_config_over_dmtet_weights_is_a_clear_error(tiny_checkpoint, tmp_path):
    """The weight head's tensors are part of a FlexiCubes model: a config that promises them must find them."""
    mixed = _copy(tiny_checkpoint, tmp_path)
    config = json.loads((mixed / "config.json").read_text())
    (mixed / "config.json").write_text(json.dumps({**config, "extractor": "flexicubes"}))
    (mixed / MANIFEST_NAME).unlink()  # edited by hand: no manifest vouches for it
    with pytest.raises(CheckpointError, match=r"(?s)cannot load the model.*Missing key.*weight_head"):
        TextToMeshPipeline.from_pretrained(mixed)
