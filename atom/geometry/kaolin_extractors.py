"""kaolin's FlexiCubes and marching tetrahedra behind atom's extraction interface (an optional backend).

Used only when ``kaolin`` (NVIDIA's library, installed from its own wheels; it needs a matching torch/CUDA
build) imports with the extraction API; nothing else in the package needs it, and the pure-PyTorch
extractors (`atom.geometry.flexicubes`, `atom.geometry.marching_tetrahedra`) stay the default. The
adapters take and return exactly what those do:

* FlexiCubes: the same voxel grid (vertices and cube corners in NVIDIA's corner order, which is kaolin's),
  the same raw weights and ``weight_scale`` (kaolin normalises them with the same formulas), negative
  inside; kaolin's per-pair ``L_dev`` is averaged to atom's scalar.
* Marching tetrahedra: kaolin takes a batch of one; its faces are re-oriented outward (towards positive
  SDF) by the sign of the enclosed volume, since kaolin's table orientation is not part of its documented
  interface.
"""

from __future__ import annotations

import functools
from types import ModuleType

import torch
from torch import Tensor

from atom.geometry.flexicubes import FlexiCubesOutput, VoxelGrid, check_flexicubes_inputs
from atom.geometry.mesh import Mesh
from atom.geometry.tetrahedral_grid import TetrahedralGrid


def _kaolin_conversions() -> ModuleType | None:
    """``kaolin.ops.conversions`` when kaolin imports and has FlexiCubes and marching tetrahedra, else None."""
    try:
        import kaolin.ops.conversions as conversions  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return None
    if not (hasattr(conversions, "FlexiCubes") and hasattr(conversions, "marching_tetrahedra")):
        return None
    return conversions


def kaolin_available() -> bool:
    """True when kaolin imports with ``ops.conversions.FlexiCubes`` and ``marching_tetrahedra``."""
    return _kaolin_conversions() is not None


def require_kaolin() -> ModuleType:
    """``kaolin.ops.conversions``, or an ImportError saying what is missing and what to use instead."""
    conversions = _kaolin_conversions()
    if conversions is None:
        raise ImportError(
            "the 'kaolin' geometry backend needs NVIDIA kaolin with kaolin.ops.conversions.FlexiCubes and "
            "marching_tetrahedra (installed from kaolin's own wheels for your torch/CUDA); "
            "use the 'torch' backend without it"
        )
    return conversions


@functools.lru_cache(maxsize=4)
def _kaolin_flexicubes_instance(device: torch.device) -> object:
    return require_kaolin().FlexiCubes(device=device)


def kaolin_flexicubes(
    grid: VoxelGrid,
    sdf: Tensor,
    beta: Tensor | None = None,
    alpha: Tensor | None = None,
    gamma: Tensor | None = None,
    deformation: Tensor | None = None,
    *,
    weight_scale: float = 0.5,
    training: bool = False,
) -> FlexiCubesOutput:
    """`atom.geometry.flexicubes` computed by kaolin: same arguments, shapes and output."""
    check_flexicubes_inputs(grid, sdf, beta, alpha, gamma, deformation, weight_scale)
    extractor = _kaolin_flexicubes_instance(sdf.device)
    vertices = grid.vertices.to(sdf.dtype)
    if deformation is not None:
        vertices = vertices + deformation.to(sdf.dtype)
    mesh_vertices, faces, deviation = extractor(
        vertices,
        sdf,
        grid.cubes,
        grid.resolution,
        weight_scale=weight_scale,
        beta=beta,
        alpha=alpha,
        gamma_f=gamma,
        training=training,
    )
    if faces.shape[0] == 0:
        return FlexiCubesOutput(Mesh.empty(device=sdf.device, dtype=sdf.dtype), (sdf * 0).sum())
    return FlexiCubesOutput(Mesh(mesh_vertices, faces.long()), deviation.mean())


def kaolin_extract_mesh(grid: TetrahedralGrid, sdf: Tensor, deformation: Tensor | None = None) -> Mesh:
    """`atom.geometry.extract_mesh` computed by kaolin's marching tetrahedra (same arguments and output)."""
    conversions = require_kaolin()
    vertices = grid.vertices
    if deformation is not None:
        if deformation.shape != vertices.shape:
            raise ValueError(
                f"deformation must be [{vertices.shape[0]}, 3] (one offset per grid vertex), "
                f"got {list(deformation.shape)}"
            )
        vertices = vertices + deformation
    if sdf.shape != (vertices.shape[0],):
        raise ValueError(f"sdf must be [{vertices.shape[0]}] (one value per grid vertex), got {list(sdf.shape)}")
    mesh_vertices, faces = conversions.marching_tetrahedra(vertices[None], grid.tets, sdf[None])
    mesh_vertices, faces = mesh_vertices[0], faces[0].long()
    if faces.shape[0] == 0:
        return Mesh.empty(device=sdf.device, dtype=sdf.dtype)
    mesh = Mesh(mesh_vertices, faces)
    if float(mesh.volume().detach()) < 0:
        mesh = Mesh(mesh_vertices, faces[:, [0, 2, 1]])
    return mesh
