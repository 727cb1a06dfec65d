"""Mesh files (GLB, OBJ, PLY) through trimesh, converting the project's +Z up to the files' +Y up."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
import trimesh

from atom.geometry.mesh import Mesh

FILE_TYPES = ("glb", "obj", "ply")


def export_mesh(mesh: Mesh, path: str | Path, file_type: str | None = None) -> Path:
    """Write ``mesh`` to ``path`` (+Y up, vertex colors kept) and return the path.

    file_type: one of ``FILE_TYPES``; by default taken from the suffix of ``path``. The file is written
    next to its destination and renamed into place, so readers never see a partial file.
    """
    path = Path(path)
    file_type = _file_type(path, file_type)
    if mesh.is_empty:
        raise ValueError(f"cannot export an empty mesh ({mesh.num_vertices} vertices, 0 faces) to {path}")
    x, y, z = mesh.vertices.detach().unbind(dim=1)
    # (x, y, z) -> (x, z, -y) is a rotation about +X, so winding and handedness are kept.
    tm = Mesh(torch.stack([x, z, -y], dim=1), mesh.faces, mesh.vertex_colors).to_trimesh()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            tm.export(file_obj=stream, file_type=file_type)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_mesh(path: str | Path) -> Mesh:
    """Read a GLB, OBJ or PLY file (+Y up) back into a float32 CPU `Mesh` (+Z up)."""
    path = Path(path)
    file_type = _file_type(path, None)
    tm = trimesh.load(path, file_type=file_type, force="mesh", process=False)
    if not isinstance(tm, trimesh.Trimesh) or len(tm.faces) == 0:
        raise ValueError(f"{path} holds no triangles")
    mesh = Mesh.from_trimesh(tm)
    x, y, z = mesh.vertices.unbind(dim=1)
    return Mesh(torch.stack([x, -z, y], dim=1), mesh.faces, mesh.vertex_colors)


def _file_type(path: Path, file_type: str | None) -> str:
    chosen = (file_type if file_type is not None else path.suffix.lstrip(".")).lower()
    if chosen not in FILE_TYPES:
        raise ValueError(
            f"unsupported mesh file type {chosen!r} for {path}; accepted: {', '.join(FILE_TYPES)}"
        )
    return chosen
