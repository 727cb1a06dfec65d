"""Tiny image-to-mesh stage models and toy pictures, built offline, for tests and smoke runs.

``tiny_image_to_mesh_models(folder)`` writes a pipeline folder (``views/``, ``ccms/``, ``reconstruction/``) of
random-weight stages that chain (32-px tiles: :mod:`atom.testing.tiny_multiview`,
:mod:`atom.testing.tiny_reconstruction`). ``toy_picture`` renders a toy-world object (ground-truth mesh,
Lambertian shading) the way the toy prior's renders look, on white, or as an RGBA cut-out, optionally moved
off-centre inside a larger canvas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from atom.guidance.pixel_sds import resize_images
from atom.render import look_at
from atom.testing.tiny_multiview import tiny_multiview_model
from atom.testing.tiny_reconstruction import tiny_reconstruction_model, to_uint8
from atom.toyworld.renders import render_geometry, shade_geometry
from atom.toyworld.shapes import COLORS, SHAPES


def tiny_image_to_mesh_models(folder: str | Path, seed: int = 0) -> Path:
    """Save three tiny random-weight stages into ``folder/views``, ``folder/ccms`` and ``folder/reconstruction``
    (the layout ``ImageToMeshPipeline.from_pretrained`` reads); returns ``folder``."""
    folder = Path(folder)
    tiny_multiview_model(folder / "views", "views", seed)
    tiny_multiview_model(folder / "ccms", "ccms", seed + 1)
    tiny_reconstruction_model(folder / "reconstruction", seed + 2)
    return folder


def toy_render(shape: str = "cube", color: str = "red", size: int = 32, elevation: float = 20.0,
               azimuth: float = 30.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A toy object seen from ``(elevation, azimuth)`` (degrees) at distance 2.8, fov 42.5, lit from the camera:
    color ``[3, size, size]`` on white and its coverage ``[1, size, size]``, both in [0, 1]."""
    names = [s.name for s in SHAPES]
    albedo = next(c.rgb for c in COLORS if c.name == color)
    camera = look_at(elevation, azimuth, 2.8, 42.5)
    buffers = render_geometry(names.index(shape), camera, size * 2)
    light = torch.nn.functional.normalize(camera.position(), dim=-1)
    image = shade_geometry(buffers, albedo, light, ["lambertian"], size)[0]
    coverage = resize_images(buffers.coverage, size)[0].clamp(0.0, 1.0)  # resized as the color is
    return image, coverage


def toy_picture(path: str | Path, shape: str = "cube", color: str = "red", size: int = 32, rgba: bool = False,
                canvas: tuple[int, int] | None = None, offset: tuple[int, int] = (0, 0)) -> Path:
    """Write a :func:`toy_render` as an RGB PNG on white or (``rgba``) an RGBA cut-out (alpha = coverage, straight
    color, transparent elsewhere); with ``canvas`` ``(height, width)`` the render is pasted with its top-left corner at
    ``offset`` ``(row, column)`` into a larger white or transparent picture. Returns the path."""
    image, coverage = toy_render(shape, color, size)
    if rgba:  # straight (not premultiplied) color: take the white background out of the edge pixels
        straight = (image - (1.0 - coverage)) / coverage.clamp_min(1e-3)
        image = torch.where(coverage > 1e-3, straight, torch.zeros_like(image)).clamp(0.0, 1.0)
    layers = torch.cat([image, coverage]) if rgba else image
    pixels = to_uint8(layers[None])[0]
    if canvas is not None:
        full = np.zeros((*canvas, pixels.shape[-1]), np.uint8) if rgba else np.full((*canvas, 3), 255, np.uint8)
        row, column = offset
        full[row:row + size, column:column + size] = pixels
        pixels = full
    Image.fromarray(pixels).save(path)
    return Path(path)
