"""Geometry regularisers of the two stages: eikonal (stage 1), normal consistency and Laplacian (stage 2)."""

from __future__ import annotations

import torch
from torch import Tensor

from atom.geometry.mesh import mesh_edges


def eikonal_loss(gradients: Tensor) -> Tensor:
    """Mean of (|grad sdf| - 1)^2 over samples ``[..., 3]``: keeps the field a signed distance."""
    return ((gradients.norm(dim=-1) - 1.0) ** 2).mean()


def normal_consistency_loss(vertices: Tensor, faces: Tensor) -> Tensor:
    """Mean of (1 - cos) between the normals of faces sharing an edge: penalises creases and spikes."""
    if faces.shape[0] == 0:
        return vertices.sum() * 0.0
    v = vertices[faces]
    normals = torch.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=-1)
    normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    _, edge_faces = mesh_edges(faces)
    interior = edge_faces[:, 1] >= 0
    a, b = edge_faces[interior, 0], edge_faces[interior, 1]
    if a.numel() == 0:
        return vertices.sum() * 0.0
    return (1.0 - (normals[a] * normals[b]).sum(dim=-1)).mean()


def laplacian_loss(vertices: Tensor, faces: Tensor) -> Tensor:
    """Mean squared uniform-Laplacian of the vertices: each vertex against the mean of its neighbours."""
    if faces.shape[0] == 0:
        return vertices.sum() * 0.0
    edges, _ = mesh_edges(faces)
    i, j = edges[:, 0], edges[:, 1]
    neighbour_sum = torch.zeros_like(vertices).index_add(0, i, vertices[j]).index_add(0, j, vertices[i])
    degree = torch.zeros(vertices.shape[0], dtype=vertices.dtype, device=vertices.device)
    degree = degree.index_add(0, i, torch.ones_like(i, dtype=vertices.dtype))
    degree = degree.index_add(0, j, torch.ones_like(j, dtype=vertices.dtype))
    used = degree > 0
    delta = vertices[used] - neighbour_sum[used] / degree[used, None]
    return (delta**2).sum(dim=-1).mean()
