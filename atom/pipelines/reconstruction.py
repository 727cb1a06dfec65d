"""Six views + six CCMs -> textured mesh (CRM's stage 3, arXiv 2403.05034), as a diffusers-style pipeline.

``ReconstructionPipeline.from_pretrained(path)`` opens a :class:`~atom.model.reconstruction.ReconstructionModel`
folder (``save_pretrained`` or ``python -m atom.convert_crm``), a training checkpoint, or a run directory (its
newest checkpoint). ``pipe(views, ccm)`` takes the color views and CCMs ``[6, 3, S, S]`` or
``[B, 6, 3, S, S]`` (float in [0, 1], views in :data:`~atom.render.crm_views.CRM_VIEW_NAMES` order, S the
model's tile size), tiles them (:func:`atom.render.crm_tiles.crm_unet_input`), runs the UNet once and returns
one FlexiCubes mesh per object with vertex colors from the color head. ``pipe.color_field(triplane)`` is
the color head of one object, ``points [N, 3] -> rgb [N, 3]``, for texture baking.

The model noises its input once with fixed-mean noise (CRM's t = 20 noising); ``generator`` seeds it, so one
seed gives one mesh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from atom.geometry import Mesh
from atom.model import CheckpointError, ReconstructionModel, resolve_checkpoint
from atom.pipelines.crm_inputs import ViewInputError
from atom.pipelines.texture_baking import query_colors
from atom.render.crm_tiles import crm_unet_input
from atom.render.crm_views import CRM_VIEW_NAMES

logger = logging.getLogger(__name__)
# Color queries per call when baking textures: bounds the memory of the head's hidden activations.
COLOR_CHUNK = 1 << 16


def check_view_tensors(views: Tensor, ccm: Tensor, tile_size: int) -> tuple[Tensor, Tensor]:
    """Views and CCMs ``[6, 3, S, S]`` or ``[B, 6, 3, S, S]`` float in [0, 1] with ``S = tile_size`` -> both
    as ``[B, 6, 3, S, S]``.

    Raises:
        ViewInputError: another shape, a size other than ``tile_size``, non-float values, or values outside [0, 1]
            (each message names the expected form).
    """
    side = f"{tile_size}, {tile_size}"
    expected = f"[6, 3, {side}] or [B, 6, 3, {side}] (views {', '.join(CRM_VIEW_NAMES)})"
    batched = []
    for name, value in (("views", views), ("ccm", ccm)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise ViewInputError(f"{name} must be a float tensor {expected} in [0, 1], got {type(value).__name__} "
                             f"{getattr(value, 'dtype', '')}")
        value = value[None] if value.dim() == 4 else value
        if value.dim() != 5 or tuple(value.shape[1:]) != (len(CRM_VIEW_NAMES), 3, tile_size, tile_size):
            raise ViewInputError(f"{name} must be {expected} (the model's tile size is {tile_size}), got "
                             f"{list(value.shape)}")
        if value.numel() and (bool(value.isnan().any()) or float(value.min()) < 0.0 or float(value.max()) > 1.0):
            low, high = float(value.nan_to_num(nan=-1.0).min()), float(value.max())
            raise ViewInputError(f"{name} values must be in [0, 1] (CCMs hold (xyz + 1) / 2), got [{low}, {high}]")
        batched.append(value)
    if batched[0].shape[0] != batched[1].shape[0]:
        raise ViewInputError(f"views and ccm must hold the same number of objects, got {batched[0].shape[0]} and "
                         f"{batched[1].shape[0]}")
    return batched[0], batched[1]


class ReconstructionPipeline:
    """A reconstruction model: ``ReconstructionPipeline.from_pretrained(path)(views, ccm) -> list[Mesh]``."""

    def __init__(self, model: ReconstructionModel, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> ReconstructionPipeline:
        """Open a ``ReconstructionModel`` folder, a checkpoint directory or a run directory.

        Raises:
            CheckpointError: the path is missing or incomplete, holds another kind of model, or its weights do
                not match its config.
        """
        checkpoint = resolve_checkpoint(path)
        try:
            model = ReconstructionModel.from_pretrained(checkpoint, device=device)
        except (ValueError, FileNotFoundError, TypeError, RuntimeError) as err:
            raise CheckpointError(f"{str(checkpoint)!r} is not a loadable reconstruction model "
                                  f"(ReconstructionModel config.json + model.safetensors): {err}") from err
        logger.info("loaded reconstruction model %s (%d parameters)", checkpoint, model.num_parameters())
        return cls(model, device)

    @property
    def tile_size(self) -> int:
        """S, the side of each view the model takes (pixels)."""
        return self.model.config.tile_size

    @torch.no_grad()
    def triplanes(self, views: Tensor, ccm: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Views and CCMs ``[(B,) 6, 3, S, S]`` in [0, 1] -> triplanes ``[B, 3, C, S, S]``."""
        views, ccm = check_view_tensors(views, ccm, self.tile_size)
        unet_input = crm_unet_input(views.to(self.device), ccm.to(self.device))
        return self.model(unet_input, generator=generator)

    @torch.no_grad()
    def meshes(self, triplanes: Tensor, grid_resolution: int | None = None) -> list[Mesh]:
        """One FlexiCubes mesh per triplane ``[B, 3, C, S, S]`` with vertex colors, on ``grid_resolution``
        cells per axis (default: the model's)."""
        if grid_resolution is not None and grid_resolution < 2:
            raise ValueError(f"grid_resolution must be >= 2 (or None: the model's), got {grid_resolution}")
        return self.model.extract_meshes(triplanes.to(self.device), grid_resolution)

    @torch.no_grad()
    def colors(self, triplane: Tensor, points: Tensor) -> Tensor:
        """The color head of one triplane ``[3, C, S, S]`` at ``points [N, 3]`` (world units) -> rgb ``[N, 3]``
        in [0, 1], on the points' device; any N (queried in chunks)."""
        return query_colors(self.model.color, triplane, points, self.device, COLOR_CHUNK)

    def color_field(self, triplane: Tensor) -> Callable[[Tensor], Tensor]:
        """``points [N, 3] -> rgb [N, 3]`` of one triplane ``[3, C, S, S]`` (for texture baking)."""
        return lambda points: self.colors(triplane, points)

    def __call__(self, views: Tensor, ccm: Tensor, generator: torch.Generator | None = None,
                 grid_resolution: int | None = None) -> list[Mesh]:
        """Views and CCMs ``[(B,) 6, 3, S, S]`` in [0, 1] -> one colored mesh per object (world units, +Z up)."""
        return self.meshes(self.triplanes(views, ccm, generator), grid_resolution)
