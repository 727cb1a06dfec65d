"""Tetrahedral grids, marching tetrahedra, the Mesh type and mesh export (torch + trimesh only)."""
