"""The triangle mesh type shared by extraction, rendering, losses and export.

A thin dataclass over tensors so that every measure (normals, areas, volume) stays differentiable with
respect to the vertex positions; trimesh is used only at the boundary (`to_trimesh` / `from_trimesh`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import trimesh
from torch import Tensor

from atom.geometry.gather import gather_rows

# Below this length a cross product counts as zero: its normal is the zero vector, not a NaN.
_NORMAL_EPS = 1e-12


@dataclass(eq=False)
class Mesh:
    """A triangle mesh in world units (right-handed, +Z up).

    vertices: ``[V, 3]`` floating point positions.
    faces: ``[F, 3]`` int64 vertex indices, counter-clockwise seen from outside (normals point outward).
    vertex_colors: optional ``[V, 3]`` floating point RGB in ``[0, 1]``.
    """

    vertices: Tensor
    faces: Tensor
    vertex_colors: Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.vertices, Tensor) or self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"vertices must be a [V, 3] tensor, got {_describe(self.vertices)}")
        if not self.vertices.is_floating_point():
            raise ValueError(f"vertices must be floating point, got {self.vertices.dtype}")
        if not isinstance(self.faces, Tensor) or self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"faces must be a [F, 3] tensor, got {_describe(self.faces)}")
        if self.faces.is_floating_point() or self.faces.is_complex() or self.faces.dtype == torch.bool:
            raise ValueError(f"faces must be an integer tensor, got {self.faces.dtype}")
        if self.faces.device != self.vertices.device:
            raise ValueError(f"faces are on {self.faces.device} but vertices on {self.vertices.device}")
        self.faces = self.faces.long()
        if self.faces.numel() > 0:
            low, high = int(self.faces.min()), int(self.faces.max())
            if low < 0 or high >= self.num_vertices:
                raise ValueError(
                    f"faces index vertices {low}..{high}, but only 0..{self.num_vertices - 1} exist"
                )
        if self.vertex_colors is not None:
            colors = self.vertex_colors
            if not isinstance(colors, Tensor) or colors.shape != (self.num_vertices, 3):
                raise ValueError(
                    f"vertex_colors must be a [{self.num_vertices}, 3] tensor (one RGB per vertex), "
                    f"got {_describe(colors)}"
                )
            if not colors.is_floating_point():
                raise ValueError(f"vertex_colors must be floating point in [0, 1], got {colors.dtype}")
            if colors.device != self.vertices.device:
                raise ValueError(
                    f"vertex_colors are on {colors.device} but vertices on {self.vertices.device}"
                )

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to render or export (no faces)."""
        return self.num_faces == 0

    @property
    def device(self) -> torch.device:
        return self.vertices.device

    def _face_cross(self) -> Tensor:
        """``[F, 3]`` un-normalised face normals; their length is twice the face area."""
        v0, v1, v2 = gather_rows(self.vertices, self.faces).unbind(dim=1)
        return torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)

    def face_normals(self) -> Tensor:
        """``[F, 3]`` unit outward normals; the zero vector for degenerate (zero-area) faces."""
        return F.normalize(self._face_cross(), dim=-1, eps=_NORMAL_EPS)

    def vertex_normals(self) -> Tensor:
        """``[V, 3]`` unit normals, the area-weighted mean of the adjacent faces' normals (`vertex_normals`)."""
        return vertex_normals(self.vertices, self.faces)

    def face_areas(self) -> Tensor:
        """``[F]`` face areas in world units squared."""
        return 0.5 * torch.linalg.vector_norm(self._face_cross(), dim=-1)

    def area(self) -> Tensor:
        """Scalar tensor: total surface area."""
        return self.face_areas().sum()

    def volume(self) -> Tensor:
        """Scalar tensor: signed enclosed volume by the divergence theorem (positive for outward faces).

        Exact for closed meshes; for open ones it depends on the origin.
        """
        v0, v1, v2 = gather_rows(self.vertices, self.faces).unbind(dim=1)
        return (v0 * torch.linalg.cross(v1, v2, dim=-1)).sum() / 6.0

    def to(self, device: torch.device | str) -> Mesh:
        colors = None if self.vertex_colors is None else self.vertex_colors.to(device)
        return Mesh(self.vertices.to(device), self.faces.to(device), colors)

    def detach(self) -> Mesh:
        colors = None if self.vertex_colors is None else self.vertex_colors.detach()
        return Mesh(self.vertices.detach(), self.faces.detach(), colors)

    def to_trimesh(self) -> trimesh.Trimesh:
        """A trimesh copy in the same axes (+Z up); colors become uint8 RGBA vertex colors."""
        colors = None
        if self.vertex_colors is not None:
            rgb = (self.vertex_colors.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
            rgb = rgb.cpu().numpy()
            colors = np.concatenate([rgb, np.full((rgb.shape[0], 1), 255, dtype=np.uint8)], axis=1)
        return trimesh.Trimesh(
            vertices=self.vertices.detach().cpu().double().numpy(),
            faces=self.faces.detach().cpu().numpy(),
            vertex_colors=colors,
            process=False,
        )

    @classmethod
    def from_trimesh(cls, tm: trimesh.Trimesh) -> Mesh:
        """A float32 CPU mesh from a trimesh; its vertex colors (if any) become RGB in ``[0, 1]``."""
        if not isinstance(tm, trimesh.Trimesh):
            raise ValueError(
                f"expected a trimesh.Trimesh, got {type(tm).__name__} "
                "(load scenes with trimesh.load(..., force='mesh'))"
            )
        colors = None
        if tm.visual.kind == "vertex":
            rgb = np.asarray(tm.visual.vertex_colors)[:, :3]
            colors = torch.from_numpy(rgb.astype(np.float32) / 255.0)
        return cls(
            vertices=torch.from_numpy(np.asarray(tm.vertices, dtype=np.float32)),
            faces=torch.from_numpy(np.asarray(tm.faces, dtype=np.int64)),
            vertex_colors=colors,
        )

    @classmethod
    def empty(cls, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Mesh:
        """A mesh with no vertices and no faces (what extraction returns when there is no surface)."""
        return cls(
            vertices=torch.zeros(0, 3, dtype=dtype, device=device),
            faces=torch.zeros(0, 3, dtype=torch.long, device=device),
        )


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals ``[..., V, 3]`` of ``vertices [..., V, 3]`` (any batch dimensions,
    e.g. one mesh seen by several cameras) with ``faces [F, 3]``; zero for vertices that no (non-degenerate)
    face uses."""
    corners = vertices[..., faces, :]  # [..., F, 3, 3]
    cross = torch.linalg.cross(corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :],
                               dim=-1)  # length = twice the area: area weighting for free
    summed = torch.zeros_like(vertices)
    for corner in range(3):
        summed = summed.index_add(-2, faces[:, corner], cross)
    return F.normalize(summed, dim=-1, eps=_NORMAL_EPS)


def edge_keys(a: Tensor, b: Tensor, num_vertices: int) -> Tensor:
    """One int64 key per undirected edge between vertex indices ``a`` and ``b`` (same shape, values in
    ``[0, num_vertices)``): ``min * num_vertices + max``, so both directions get the same key and sorting
    or ``torch.unique`` on keys finds shared edges far faster than on index pairs."""
    return torch.minimum(a, b) * num_vertices + torch.maximum(a, b)


def mesh_edges(faces: Tensor) -> tuple[Tensor, Tensor]:
    """Unique undirected edges ``[E, 2]`` of a triangle mesh and, per edge, the faces using it.

    Returns ``(edges [E, 2], edge_faces [E, 2])``; ``edge_faces[:, 1] == -1`` for boundary edges. Each
    half-edge is keyed by one integer (``low * V + high``) and the keys sorted once: ``torch.unique`` over
    rows was 18x slower and ran twice per mesh per stage-2 step.
    """
    num_vertices = int(faces.max()) + 1 if faces.numel() else 0
    face_ids = torch.arange(faces.shape[0], device=faces.device).repeat_interleave(3)
    half = torch.stack([faces, faces.roll(-1, dims=1)], dim=-1).reshape(-1, 2)
    key = edge_keys(half[:, 0], half[:, 1], num_vertices)
    order = torch.argsort(key, stable=True)
    sorted_key = key[order]
    first = torch.ones_like(sorted_key, dtype=torch.bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    unique_keys = sorted_key[first]
    edges = torch.stack([unique_keys // num_vertices, unique_keys % num_vertices], dim=1)
    slot = torch.cumsum(first, dim=0) - 1  # edge index of every sorted half-edge
    edge_faces = torch.full((edges.shape[0], 2), -1, dtype=torch.long, device=faces.device)
    edge_faces[slot[first], 0] = face_ids[order][first]
    edge_faces[slot[~first], 1] = face_ids[order][~first]
    return edges, edge_faces


def _describe(value: object) -> str:
    """Shape of a tensor for error messages, or the type of anything else."""
    if isinstance(value, Tensor):
        return f"{list(value.shape)}"
    return type(value).__name__
