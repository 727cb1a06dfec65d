"""UV-textured meshes: xatlas unwrapping, seam dilation of a baked texture, and textured GLB export.

The texture itself is baked elsewhere (``atom.pipelines.texture_baking`` rasterizes the UV layout and
queries the color head at each texel's surface point), because that needs a rasterizer and this room
uses only torch, trimesh and xatlas.

UV convention (trimesh's and OBJ's): ``u`` runs along the image columns, ``v`` up the image, so texel
``(row, col)`` of an ``H x W`` texture has its centre at ``u = (col + 0.5) / W``, ``v = 1 - (row + 0.5) / H``.
trimesh flips ``v`` for glTF on export and back on import.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import trimesh
import xatlas
from PIL import Image
from torch import Tensor

from atom.geometry.mesh import Mesh


@dataclass(eq=False)
class UVMesh:
    """A mesh cut along its UV seams (world units, +Z up).

    vertices: ``[V, 3]`` float positions; a vertex on a seam appears once per chart.
    faces: ``[F, 3]`` int64, the same triangles (and winding) as the source mesh.
    uv: ``[V, 2]`` float texture coordinates in ``[0, 1]``.
    source: ``[V]`` int64, the source-mesh vertex each vertex copies.
    """

    vertices: Tensor
    faces: Tensor
    uv: Tensor
    source: Tensor

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])


def unwrap(mesh: Mesh, resolution: int = 512, padding: int = 2) -> UVMesh:
    """Charts and packs ``mesh`` into one UV atlas with xatlas, for a texture of about ``resolution`` px
    with ``padding`` px between charts. The cost is xatlas's (seconds for ~20k faces): decimate first for
    big meshes."""
    if mesh.is_empty:
        raise ValueError("cannot unwrap an empty mesh (0 faces)")
    if resolution < 8 or padding < 0:
        raise ValueError(f"need resolution >= 8 and padding >= 0, got resolution={resolution}, padding={padding}")
    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices.detach().cpu().numpy().astype(np.float32), mesh.faces.cpu().numpy().astype(np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution = resolution
    pack.padding = padding
    pack.bilinear = True  # leave room for bilinear filtering at chart borders
    pack.blockAlign = True  # faster packing, barely less dense
    atlas.generate(xatlas.ChartOptions(), pack)
    if atlas.atlas_count != 1:
        raise RuntimeError(
            f"xatlas packed the mesh into {atlas.atlas_count} atlases, expected one; "
            f"raise the texture resolution (now {resolution})"
        )
    vmapping, indices, uv = atlas[0]
    source = torch.from_numpy(vmapping.astype(np.int64)).to(mesh.device)
    return UVMesh(
        vertices=mesh.vertices.detach()[source],
        faces=torch.from_numpy(indices.astype(np.int64)).to(mesh.device),
        uv=torch.from_numpy(uv).to(device=mesh.device, dtype=mesh.vertices.dtype),
        source=source,
    )


def dilate(texture: Tensor, mask: Tensor, pixels: int) -> Tensor:
    """Bleed the covered texels of ``texture`` ``[C, H, W]`` (where ``mask`` ``[H, W]`` is True) outwards by
    ``pixels`` rings: each ring gives an empty texel the mean of its covered 3x3 neighbours. Keeps chart
    borders from sampling background through bilinear filtering and mip-mapping."""
    if texture.dim() != 3 or mask.shape != texture.shape[1:] or mask.dtype != torch.bool:
        raise ValueError(
            f"texture must be [C, H, W] and mask bool [H, W], got {list(texture.shape)} and "
            f"{mask.dtype} {list(mask.shape)}"
        )
    if pixels < 0:
        raise ValueError(f"pixels must be >= 0, got {pixels}")
    weight = mask[None].to(texture.dtype)
    texture = texture * weight
    for _ in range(pixels):
        total = F.avg_pool2d(torch.cat([texture, weight])[None], 3, stride=1, padding=1)[0]
        grow = (weight[0] == 0) & (total[-1] > 0)
        mean = total[:-1] / total[-1:].clamp_min(1e-12)
        texture = torch.where(grow, mean, texture)
        weight = torch.where(grow, torch.ones_like(weight), weight)
    return texture


def _textured_trimesh(mesh: UVMesh, texture: Tensor, name: str) -> trimesh.Trimesh:
    """``mesh`` (+Z up) with ``texture`` ``[3, H, W]`` in [0, 1] as a trimesh in +Y up: ``(x, y, z) -> (x, z, -y)``,
    a rotation, so the winding is kept; the material is called ``name``."""
    if texture.dim() != 3 or texture.shape[0] != 3:
        raise ValueError(f"texture must be [3, H, W], got {list(texture.shape)}")
    x, y, z = mesh.vertices.detach().double().cpu().unbind(dim=1)
    pixels = (texture.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(pixels), name=name)
    visual = trimesh.visual.TextureVisuals(uv=mesh.uv.detach().cpu().numpy(), material=material)
    return trimesh.Trimesh(
        vertices=torch.stack([x, z, -y], dim=1).numpy(), faces=mesh.faces.cpu().numpy(), visual=visual, process=False
    )


def _write_atomically(data: bytes, path: Path) -> None:
    """Write ``data`` beside ``path`` and rename it into place (readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_textured_glb(mesh: UVMesh, texture: Tensor, path: str | Path) -> Path:
    """Write ``mesh`` with ``texture`` ``[3, H, W]`` (float in [0, 1]) as a GLB (+Y up, like ``export_mesh``:
    ``(x, y, z) -> (x, z, -y)``, a rotation, so the winding is kept); written beside ``path`` and renamed
    into place. Returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise ValueError(f"textured meshes are written as .glb, got {path}")
    _write_atomically(_textured_trimesh(mesh, texture, "material").export(file_type="glb"), path)
    return path


def export_textured_obj(mesh: UVMesh, texture: Tensor, path: str | Path) -> Path:
    """Write ``mesh`` with ``texture`` ``[3, H, W]`` (float in [0, 1]) as ``<stem>.obj`` + ``<stem>.mtl`` +
    ``<stem>.png`` beside each other (+Y up, as :func:`export_textured_glb`). Returns the OBJ's path."""
    path = Path(path)
    if path.suffix.lower() != ".obj":
        raise ValueError(f"textured OBJ meshes are written as .obj, got {path}")
    text, files = trimesh.exchange.obj.export_obj(
        _textured_trimesh(mesh, texture, path.stem), include_texture=True, mtl_name=f"{path.stem}.mtl",
        return_texture=True,
    )
    for name, data in files.items():  # the material file and its texture image first: the OBJ names them
        _write_atomically(data, path.parent / name)
    _write_atomically(text.encode("utf-8"), path)
    return path
