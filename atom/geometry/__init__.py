"""Tetrahedral and voxel grids, marching tetrahedra, FlexiCubes, the Mesh type and mesh export (torch + trimesh)."""

from atom.geometry.export import export_mesh, load_mesh
from atom.geometry.flexicubes import (
    FlexiCubesOutput,
    VoxelGrid,
    flexicubes,
    flexicubes_sign_loss,
    flexicubes_weight_loss,
    voxel_grid,
)
from atom.geometry.marching_tetrahedra import extract_mesh, marching_tetrahedra
from atom.geometry.mesh import Mesh
from atom.geometry.tetrahedral_grid import TetrahedralGrid, tetrahedral_grid

__all__ = [
    "FlexiCubesOutput",
    "Mesh",
    "TetrahedralGrid",
    "VoxelGrid",
    "export_mesh",
    "extract_mesh",
    "flexicubes",
    "flexicubes_sign_loss",
    "flexicubes_weight_loss",
    "load_mesh",
    "marching_tetrahedra",
    "tetrahedral_grid",
    "voxel_grid",
]
