"""Mesh extraction from triplanes (DMTet or FlexiCubes): the one step that training's stage 2 and inference share.

The grid chooses the extractor: a ``TetrahedralGrid`` means DMTet (marching tetrahedra), a ``VoxelGrid``
FlexiCubes (`extraction_grid` builds either by name). For each triplane the SDF head is queried at every grid
vertex, then only where the surface passes:

- DMTet: the deformation head at the ends of sign-changing edges (bounded offsets, a fraction of the grid's
  cell size); marching tetrahedra places vertices on those edges only.
- FlexiCubes: the deformation head at the corners of the *surface cubes* (cubes whose corners disagree in
  sign) and the weight head (when the model has one) on those cubes' 8 corner features; every other cube
  keeps raw weights 0 (they cannot change the mesh: dual vertices and quads come from surface cubes only).
  A model without a weight head (trained for DMTet) runs FlexiCubes at its default weights.

The color head then gives vertex colors. Everything is differentiable with respect to the network, so
training backpropagates through the extracted vertices; FlexiCubes also returns its regularisers
(``L_dev``, the sign-change BCE, the L1 of the raw weights of the surface cubes) for stage 2. In training
mode (``model.training``) FlexiCubes splits each quad at a midpoint vertex so gradients reach gamma.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from atom.geometry import Mesh, TetrahedralGrid, mesh_extractor, tetrahedral_grid
from atom.geometry.flexicubes import VoxelGrid, flexicubes_sign_loss, flexicubes_weight_loss, voxel_grid
from atom.model.text_to_mesh_model import TextToMeshModel

#: names of the FlexiCubes regularisers in `Extraction.losses`
FLEXICUBES_LOSSES = ("flexicubes_deviation", "flexicubes_sign", "flexicubes_weights")


@dataclass
class Extraction:
    """One triplane's mesh and the extractor's own regularisers (unweighted scalars; none for DMTet)."""

    mesh: Mesh
    losses: dict[str, Tensor] = field(default_factory=dict)


def extraction_grid(kind: str, resolution: int, bound: float = 1.0,
                    device: torch.device | str | None = None) -> TetrahedralGrid | VoxelGrid:
    """The (cached) grid of extractor ``kind`` ("dmtet" | "flexicubes"), ``resolution`` cells per axis."""
    if kind == "dmtet":
        return tetrahedral_grid(resolution, bound=bound, device=device)
    if kind == "flexicubes":
        return voxel_grid(resolution, bound, device)
    raise ValueError(f"unknown mesh extractor {kind!r}; accepted: dmtet, flexicubes")


def triplanes_to_meshes(
    model: TextToMeshModel, triplanes: Tensor, grid: TetrahedralGrid | VoxelGrid, deform: bool = True,
    color: bool = True, backend: str = "torch",
) -> list[Mesh]:
    """One mesh per triplane ``[B, 3, C, R, R]`` (see `extract_triplanes`)."""
    return [out.mesh for out in extract_triplanes(model, triplanes, grid, deform, color, backend)]


def extract_triplanes(
    model: TextToMeshModel, triplanes: Tensor, grid: TetrahedralGrid | VoxelGrid, deform: bool = True,
    color: bool = True, backend: str = "torch",
) -> list[Extraction]:
    """DMTet (tetrahedral grid) or FlexiCubes (voxel grid) per triplane ``[B, 3, C, R, R]`` on ``backend``
    ("torch" | "kaolin"): SDF (+ bounded deformation, + FlexiCubes weights) on the grid -> mesh, then vertex
    colors from the color head. Differentiable; empty meshes come back as ``Mesh.empty``."""
    if isinstance(grid, TetrahedralGrid):
        kind = "dmtet"
    elif isinstance(grid, VoxelGrid):
        kind = "flexicubes"
    else:
        raise ValueError(
            f"grid must be a TetrahedralGrid (DMTet) or a VoxelGrid (FlexiCubes), got {type(grid).__name__}")
    extract = mesh_extractor(kind, backend)
    vertices = grid.vertices[None].expand(triplanes.shape[0], -1, -1)
    sdf = model.sdf(triplanes, vertices)  # [B, Nv]
    outputs = []
    for b in range(triplanes.shape[0]):
        triplane = triplanes[b : b + 1]
        if kind == "dmtet":
            offsets = surface_deformation(model, triplane, grid, sdf[b]) if deform else None
            out = Extraction(extract(grid, sdf[b], offsets))
        else:
            out = _flexicubes(model, triplane, grid, sdf[b], deform, extract)
        if color and not out.mesh.is_empty:
            rgb = model.color(triplane, out.mesh.vertices[None])[0]
            out.mesh = Mesh(out.mesh.vertices, out.mesh.faces, rgb)
        outputs.append(out)
    return outputs


def surface_deformation(model: TextToMeshModel, triplane: Tensor, grid: TetrahedralGrid, sdf: Tensor) -> Tensor:
    """Deformation offsets ``[Nv, 3]`` of one triplane ``[1, 3, C, R, R]`` with grid SDF ``[Nv]``, queried only
    at the ends of sign-changing grid edges and zero elsewhere.

    Marching tetrahedra places vertices on sign-changing edges only, so the mesh is the same as with every
    offset queried, at a few percent of the head evaluations (the deformation head costs as much as the SDF).
    """
    inside = sdf < 0  # the same test as marching tetrahedra
    edges = grid.edges
    crossing = edges[inside[edges[:, 0]] != inside[edges[:, 1]]]
    needed = torch.zeros_like(inside)
    needed[crossing.reshape(-1)] = True
    return _deformation_at(model, triplane, grid, torch.nonzero(needed)[:, 0])


def _deformation_at(model: TextToMeshModel, triplane: Tensor, grid: TetrahedralGrid | VoxelGrid,
                    index: Tensor) -> Tensor:
    """Offsets ``[Nv, 3]``: the deformation head at grid vertices ``index [K]``, zero elsewhere."""
    values = model.deformation(triplane, grid.vertices[index][None], grid.cell_size)[0]
    return values.new_zeros(grid.vertices.shape).index_copy(0, index, values)


def _flexicubes(model: TextToMeshModel, triplane: Tensor, grid: VoxelGrid, sdf: Tensor, deform: bool,
                extract) -> Extraction:
    """FlexiCubes of one triplane ``[1, 3, C, R, R]`` with grid SDF ``[(N+1)^3]``: deformation and weights
    queried on the surface cubes only (module docstring)."""
    inside = (sdf < 0)[grid.cubes]  # [N^3, 8], the same test as FlexiCubes
    surface = torch.nonzero(inside.any(dim=1) & ~inside.all(dim=1))[:, 0]  # [S]
    corners = grid.cubes[surface]  # [S, 8]
    offsets = _deformation_at(model, triplane, grid, torch.unique(corners)) if deform else None
    beta = alpha = gamma = None
    weight_terms = []
    if model.weight_head is not None and surface.numel() > 0:
        raw = model.flexicubes_weights(triplane, grid.vertices[corners][None])[0]  # [S, 21]
        weights = raw.new_zeros(grid.cubes.shape[0], 21).index_copy(0, surface, raw)
        beta, alpha, gamma = weights[:, :12], weights[:, 12:20], weights[:, 20]
        weight_terms.append(flexicubes_weight_loss(raw[:, :12], raw[:, 12:20], raw[:, 20]))
    out = extract(grid, sdf, beta, alpha, gamma, offsets,
                  weight_scale=model.config.flexicubes_weight_scale, training=model.training)
    zero = sdf.sum() * 0.0
    losses = {
        "flexicubes_deviation": out.deviation,
        "flexicubes_sign": flexicubes_sign_loss(grid, sdf),
        "flexicubes_weights": weight_terms[0] if weight_terms else zero,
    }
    return Extraction(out.mesh, losses)
