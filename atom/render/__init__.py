"""Cameras, rasterization, NeuS volume rendering and shading (torch only; optional nvdiffrast)."""
