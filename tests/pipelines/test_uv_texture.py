"""UV unwrapping, seam dilation, texture baking and the textured GLB, read back with plain trimesh."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from atom.geometry import Mesh
from atom.geometry.uv_texture import dilate, export_textured_glb, export_textured_obj, unwrap
from atom.pipelines.texture_baking import bake_texture, texel_points
from atom.render import make_rasterizer


def _sphere() -> Mesh:
    tm = trimesh.creation.icosphere(subdivisions=2, radius=0.6)  # 320 faces
    return Mesh(torch.tensor(tm.vertices, dtype=torch.float32), torch.tensor(tm.faces))


def _color(points: torch.Tensor) -> torch.Tensor:
    """A smooth color field: rgb = (xyz + 1) / 2."""
    return (points + 1) / 2


@pytest.fixture(scope="module")
def unwrapped():
    mesh = _sphere()
    return mesh, unwrap(mesh, resolution=128)


def test_unwrap_keeps_the_triangles_and_packs_into_the_unit_square(unwrapped):
    mesh, uv_mesh = unwrapped
    assert uv_mesh.num_faces == mesh.num_faces
    torch.testing.assert_close(uv_mesh.vertices[uv_mesh.faces], mesh.vertices[mesh.faces])
    torch.testing.assert_close(uv_mesh.vertices, mesh.vertices[uv_mesh.source])
    assert uv_mesh.vertices.shape[0] > mesh.num_vertices  # cut along seams
    assert float(uv_mesh.uv.min()) >= 0.0 and float(uv_mesh.uv.max()) <= 1.0
    with pytest.raises(ValueError, match="empty mesh"):
        unwrap(Mesh.empty())


def test_dilation_grows_covered_texels_ring_by_ring():
    texture = torch.zeros(3, 9, 9)
    mask = torch.zeros(9, 9, dtype=torch.bool)
    texture[:, 4, 4] = torch.tensor([0.2, 0.5, 0.8])
    texture[:, 0, 0] = 1.0  # not covered: must be cleared, not spread
    mask[4, 4] = True
    grown = dilate(texture, mask, pixels=2)
    inside = torch.zeros(9, 9, dtype=torch.bool)
    inside[2:7, 2:7] = True
    assert torch.allclose(grown[:, inside], torch.tensor([0.2, 0.5, 0.8])[:, None])
    assert grown[:, ~inside].abs().max() == 0
    with pytest.raises(ValueError, match="mask bool"):
        dilate(texture, mask.float(), 1)


def test_texels_show_points_on_the_surface(unwrapped):
    mesh, uv_mesh = unwrapped
    points, covered = texel_points(uv_mesh, 128, make_rasterizer("torch"))
    assert covered.float().mean() > 0.3
    radius = points[covered].norm(dim=-1)
    # every texel point lies on a face: between the faces' inscribed distance and the sphere's radius
    inscribed = mesh.vertices[mesh.faces].mean(1).norm(dim=-1).min()
    assert float(radius.min()) >= float(inscribed) - 1e-4 and float(radius.max()) <= 0.6 + 1e-4


@pytest.mark.parametrize("suffix", ["glb", "obj"])
def test_textured_mesh_reads_back_with_uvs_and_the_baked_colors(unwrapped, tmp_path, suffix):
    mesh, uv_mesh = unwrapped
    resolution = 128
    texture = bake_texture(uv_mesh, _color, resolution, make_rasterizer("torch"), dilation=4)
    export = export_textured_glb if suffix == "glb" else export_textured_obj
    path = export(uv_mesh, texture, tmp_path / f"textured.{suffix}")
    if suffix == "obj":  # the material and its image sit beside the OBJ, named after it
        assert (tmp_path / "textured.mtl").is_file() and (tmp_path / "textured.png").is_file()
    loaded = trimesh.load(path, force="mesh", process=False)
    assert loaded.visual.kind == "texture"
    material = loaded.visual.material
    image = material.baseColorTexture if suffix == "glb" else material.image
    assert image is not None and image.size == (resolution, resolution)
    uv = np.asarray(loaded.visual.uv)
    assert uv.shape == (len(loaded.vertices), 2)
    # +Y up in the file: (x, y, z) -> (x, z, -y)
    x, y, z = np.asarray(loaded.vertices).T
    vertices = torch.tensor(np.stack([x, -z, y], axis=1), dtype=torch.float32)
    torch.testing.assert_close(vertices[torch.tensor(np.asarray(loaded.faces))], mesh.vertices[mesh.faces])
    # the texel under each vertex's uv holds the color field at that vertex
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    cols = np.clip(np.round(uv[:, 0] * resolution - 0.5), 0, resolution - 1).astype(int)
    rows = np.clip(np.round((1 - uv[:, 1]) * resolution - 0.5), 0, resolution - 1).astype(int)
    sampled = torch.tensor(pixels[rows, cols])
    error = (sampled - _color(vertices)).abs()
    assert float(error.mean()) < 0.01 and float(error.max()) < 0.05
    with pytest.raises(ValueError, match=r"written as \.glb|written as \.obj"):
        export(uv_mesh, texture, tmp_path / "textured.ply")
