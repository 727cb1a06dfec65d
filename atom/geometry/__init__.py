"""Tetrahedral grids, marching tetrahedra, the Mesh type and mesh export (torch + trimesh only)."""

from atom.geometry.export import export_mesh, load_mesh
from atom.geometry.marching_tetrahedra import extract_mesh, marching_tetrahedra
from atom.geometry.mesh import Mesh
from atom.geometry.tetrahedral_grid import TetrahedralGrid, tetrahedral_grid

__all__ = [
    "Mesh",
    "TetrahedralGrid",
    "export_mesh",
    "extract_mesh",
    "load_mesh",
    "marching_tetrahedra",
    "tetrahedral_grid",
]
