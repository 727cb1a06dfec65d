"""A tiny reconstruction model and a toy object's six CRM views + CCMs as image files, for tests and smoke runs.

``tiny_reconstruction_model(path)`` saves a random-weight :class:`~atom.model.ReconstructionModel` (the toy
preset shrunk: 32-px tiles, grid 16); ``toy_object_views(tile_size)`` renders an off-centre cone colored by
position (so every view differs and a swapped view shows) with :func:`atom.render.crm_views.render_crm_views`;
``write_strip`` / ``write_view_folder`` write them in the two layouts ``atom.reconstruct`` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import trimesh
from PIL import Image
from torch import Tensor

from atom.model import ReconstructionModel
from atom.render import make_rasterizer
from atom.render.crm_views import CRM_VIEW_NAMES, CRMViews, render_crm_views

TINY_RECONSTRUCTION = {
    "tile_size": 32, "learned_channels": 2, "triplane_channels": 8, "block_out_channels": (8, 16, 16, 16),
    "head_hidden": 32, "weight_hidden": 32, "grid_resolution": 16,
}


def tiny_reconstruction_model(path: str | Path, seed: int = 0, **overrides) -> Path:
    """Save a random-weight toy-preset model shrunk by :data:`TINY_RECONSTRUCTION` (and ``overrides``) into
    ``path``; returns the folder."""
    torch.manual_seed(seed)
    return ReconstructionModel("toy", **{**TINY_RECONSTRUCTION, **overrides}).save_pretrained(path)


def toy_object_views(tile_size: int) -> CRMViews:
    """Six views + CCMs ``[6, 3, S, S]`` of a cone (apex up, shifted towards +X +Y) colored ``(xyz + 1) / 2``."""
    cone = trimesh.creation.cone(radius=0.45, height=1.0, sections=24)
    cone.apply_translation((0.15, 0.1, -0.5))
    vertices = torch.tensor(cone.vertices, dtype=torch.float32)
    faces = torch.tensor(cone.faces, dtype=torch.long)
    colors = ((vertices + 1.0) / 2.0).clamp(0.0, 1.0)
    return render_crm_views(vertices, faces, colors, tile_size, make_rasterizer("torch"))


def to_uint8(images: Tensor) -> np.ndarray:
    """``[N, C, H, W]`` float in [0, 1] -> uint8 ``[N, H, W, C]`` (rounded)."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_strip(views: Tensor, path: str | Path, order: Sequence[str] = CRM_VIEW_NAMES) -> Path:
    """Views ``[6, 3, S, S]`` (CRM_VIEW_NAMES order) -> one PNG ``S x 6S``, tiles left to right in ``order``."""
    pixels = to_uint8(views)
    strip = np.concatenate([pixels[CRM_VIEW_NAMES.index(name)] for name in order], axis=1)
    Image.fromarray(strip).save(path)
    return Path(path)


def write_view_folder(views: Tensor, folder: str | Path) -> Path:
    """Views ``[6, 3, S, S]`` -> ``folder/<view>.png`` for each name of CRM_VIEW_NAMES."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, pixels in zip(CRM_VIEW_NAMES, to_uint8(views), strict=True):
        Image.fromarray(pixels).save(folder / f"{name}.png")
    return folder
