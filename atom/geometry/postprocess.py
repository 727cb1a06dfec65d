"""Mesh clean-up after extraction: connected components (floaters), decimation and normalisation.

Components are sets of faces joined through shared vertices (marching tetrahedra gives one vertex per
grid edge, so touching surfaces share their vertices). Labelling uses scipy's sparse graph search (scipy
ships with trimesh); decimation is trimesh's quadric decimation, which needs the ``fast-simplification``
package. Removing components keeps vertex colors; decimation drops them (its vertices are new), so
color the result afterwards (the inference pipeline queries the color head at the new vertices).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from atom.geometry.mesh import Mesh


def component_labels(mesh: Mesh) -> tuple[Tensor, Tensor]:
    """Connected components of the faces.

    Returns:
        labels ``[F]`` int64: the component of each face, numbered by decreasing face count (0 is the
        largest; ties by lowest face index), and sizes ``[K]`` int64: faces per component, descending.
    """
    if mesh.is_empty:
        empty = torch.zeros(0, dtype=torch.long, device=mesh.device)
        return empty, empty
    faces = mesh.faces.detach().cpu().numpy()
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = coo_matrix(
        (np.ones(rows.shape[0], dtype=np.int8), (rows, cols)), shape=(mesh.num_vertices, mesh.num_vertices)
    )
    _, vertex_labels = connected_components(graph, directed=False)
    face_labels = torch.from_numpy(vertex_labels[faces[:, 0]].astype(np.int64))
    raw_sizes = torch.bincount(face_labels)
    first_face = torch.full_like(raw_sizes, mesh.num_faces).scatter_reduce(
        0, face_labels, torch.arange(mesh.num_faces), "amin"
    )
    # Sort by size descending, then by first face, so the numbering is deterministic.
    order = np.lexsort((first_face.numpy(), -raw_sizes.numpy()))
    order = torch.from_numpy(order[raw_sizes.numpy()[order] > 0])
    rank = torch.empty_like(raw_sizes).scatter_(0, order, torch.arange(order.shape[0]))
    return rank[face_labels].to(mesh.device), raw_sizes[order].to(mesh.device)


def keep_faces(mesh: Mesh, keep: Tensor) -> Mesh:
    """The faces where ``keep`` ``[F]`` (bool) is True, with the vertices they use (colors kept)."""
    if keep.shape != (mesh.num_faces,) or keep.dtype != torch.bool:
        raise ValueError(f"keep must be a bool [{mesh.num_faces}] tensor, got {keep.dtype} {list(keep.shape)}")
    faces = mesh.faces[keep]
    used, faces = torch.unique(faces, return_inverse=True)
    faces = faces.reshape(-1, 3)
    colors = None if mesh.vertex_colors is None else mesh.vertex_colors[used]
    return Mesh(mesh.vertices[used], faces, colors)


def remove_small_components(mesh: Mesh, min_faces: int) -> Mesh:
    """Drop every component with fewer than ``min_faces`` faces, but never the largest one."""
    if min_faces < 0:
        raise ValueError(f"min_faces must be >= 0, got {min_faces}")
    if mesh.is_empty:
        return mesh
    labels, sizes = component_labels(mesh)
    keep_component = sizes >= min_faces
    keep_component[0] = True
    return keep_faces(mesh, keep_component[labels])


def keep_largest_component(mesh: Mesh) -> Mesh:
    """The component with the most faces (the first one on ties)."""
    if mesh.is_empty:
        return mesh
    labels, _ = component_labels(mesh)
    return keep_faces(mesh, labels == 0)


def decimation_available() -> bool:
    """True when trimesh's quadric decimation can run (the ``fast-simplification`` package is installed)."""
    return importlib.util.find_spec("fast_simplification") is not None


def decimate(mesh: Mesh, target_faces: int) -> Mesh:
    """Quadric edge-collapse decimation to about ``target_faces`` faces (fast-simplification via trimesh).

    Meshes already at or below the target come back unchanged. The result has new vertices and no
    vertex colors; it is not differentiable.
    """
    if target_faces < 1:
        raise ValueError(f"target_faces must be >= 1, got {target_faces}")
    if mesh.num_faces <= target_faces:
        return mesh
    if not decimation_available():
        raise RuntimeError("decimation needs the fast-simplification package: pip install fast-simplification")
    simplified = mesh.to_trimesh().simplify_quadric_decimation(face_count=target_faces)
    vertices = torch.from_numpy(np.asarray(simplified.vertices)).to(mesh.vertices)
    faces = torch.from_numpy(np.asarray(simplified.faces, dtype=np.int64)).to(mesh.device)
    return Mesh(vertices, faces)


def cube_transform(vertices: Tensor, half_extent: float = 1.0) -> tuple[Tensor, Tensor]:
    """``(centre [3], scale [])`` such that ``(vertices - centre) * scale`` has its axis-aligned bounding box
    centred at the origin with the longest side ``2 * half_extent``; invert with ``p / scale + centre``."""
    if half_extent <= 0:
        raise ValueError(f"half_extent must be > 0, got {half_extent}")
    if vertices.dim() != 2 or vertices.shape[0] == 0 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be a non-empty [V, 3] tensor, got {list(vertices.shape)}")
    low, high = vertices.min(dim=0).values, vertices.max(dim=0).values
    extent = (high - low).max()
    if float(extent) == 0.0:
        raise ValueError("cannot normalise a mesh whose vertices all coincide (zero extent)")
    return (low + high) / 2, 2 * half_extent / extent


def normalize_to_cube(mesh: Mesh, half_extent: float = 1.0) -> Mesh:
    """Move the centre of the axis-aligned bounding box to the origin and scale uniformly so that its
    longest side is ``2 * half_extent``: the mesh then just fits ``[-half_extent, half_extent]^3`` (the
    project's object cube by default). Differentiable; colors kept."""
    if mesh.is_empty:
        return mesh
    centre, scale = cube_transform(mesh.vertices, half_extent)
    return Mesh((mesh.vertices - centre) * scale, mesh.faces, mesh.vertex_colors)


def postprocess(
    mesh: Mesh,
    largest_component: bool = False,
    min_component_fraction: float = 0.01,
    target_faces: int | None = None,
    normalize: bool = False,
) -> Mesh:
    """The clean-up chain, in this order: keep the largest component (if asked) or drop components with
    fewer than ``min_component_fraction`` of the faces; decimate to ``target_faces`` (if given); normalise
    to ``[-1, 1]^3`` (if asked). Defaults: floaters under 1 % removed, no decimation, no normalisation."""
    if not 0.0 <= min_component_fraction < 1.0:
        raise ValueError(f"min_component_fraction must be in [0, 1), got {min_component_fraction}")
    if mesh.is_empty:
        return mesh
    if largest_component:
        mesh = keep_largest_component(mesh)
    elif min_component_fraction > 0:
        mesh = remove_small_components(mesh, int(np.ceil(min_component_fraction * mesh.num_faces)))
    if target_faces is not None:
        mesh = decimate(mesh, target_faces)
    if normalize:
        mesh = normalize_to_cube(mesh)
    return mesh
