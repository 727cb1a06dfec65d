"""Tetrahedral and voxel grids, marching tetrahedra, FlexiCubes, the Mesh type and mesh export (torch + trimesh)."""

from atom.geometry.export import export_mesh, load_mesh
from atom.geometry.extractors import EXTRACTOR_BACKENDS, EXTRACTOR_KINDS, mesh_extractor
from atom.geometry.flexicubes import (
    FlexiCubesOutput,
    VoxelGrid,
    flexicubes,
    flexicubes_sign_loss,
    flexicubes_weight_loss,
    voxel_grid,
)
from atom.geometry.kaolin_extractors import kaolin_available
from atom.geometry.marching_tetrahedra import extract_mesh, marching_tetrahedra
from atom.geometry.mesh import Mesh
from atom.geometry.tetrahedral_grid import TetrahedralGrid, tetrahedral_grid

__all__ = [
    "EXTRACTOR_BACKENDS",
    "EXTRACTOR_KINDS",
    "FlexiCubesOutput",
    "Mesh",
    "TetrahedralGrid",
    "VoxelGrid",
    "export_mesh",
    "extract_mesh",
    "flexicubes",
    "flexicubes_sign_loss",
    "flexicubes_weight_loss",
    "kaolin_available",
    "load_mesh",
    "marching_tetrahedra",
    "mesh_extractor",
    "tetrahedral_grid",
    "voxel_grid",
]
