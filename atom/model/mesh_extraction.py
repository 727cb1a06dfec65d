"""Mesh extraction from triplanes (DMTet): the one step that training's stage 2 and inference share.

For each triplane the SDF head is queried at every tetrahedral-grid vertex, the deformation head only at the
ends of sign-changing edges (bounded offsets, a fraction of the grid's cell size), and marching tetrahedra
turns both into a ``Mesh``; the colour head then gives vertex colours. Everything is differentiable with
respect to the network, so training backpropagates through the extracted vertices.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atom.geometry import Mesh, TetrahedralGrid, extract_mesh
from atom.model.generator import TriplaneGenerator


def triplanes_to_meshes(
    model: TriplaneGenerator, triplanes: Tensor, grid: TetrahedralGrid, deform: bool = True, colour: bool = True
) -> list[Mesh]:
    """DMTet per triplane ``[B, 3, C, R, R]``: SDF (+ bounded deformation) on the grid -> marching tetrahedra,
    then vertex colours from the colour head. Differentiable; empty meshes come back as ``Mesh.empty``."""
    vertices = grid.vertices[None].expand(triplanes.shape[0], -1, -1)
    sdf = model.sdf(triplanes, vertices)  # [B, Nv]
    meshes = []
    for b in range(triplanes.shape[0]):
        offsets = surface_deformation(model, triplanes[b : b + 1], grid, sdf[b]) if deform else None
        mesh = extract_mesh(grid, sdf[b], offsets)
        if colour and not mesh.is_empty:
            rgb = model.color(triplanes[b : b + 1], mesh.vertices[None])[0]
            mesh = Mesh(mesh.vertices, mesh.faces, rgb)
        meshes.append(mesh)
    return meshes


def surface_deformation(model: TriplaneGenerator, triplane: Tensor, grid: TetrahedralGrid, sdf: Tensor) -> Tensor:
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
    index = torch.nonzero(needed)[:, 0]
    values = model.deformation(triplane, grid.vertices[index][None], grid.cell_size)[0]
    return values.new_zeros(grid.vertices.shape).index_copy(0, index, values)
