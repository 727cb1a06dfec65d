"""How close are the multi-view diffusion stages' outputs to the truth? PSNR / SSIM on held-out toy objects.

A stage's output for one object is six ``[3, T, T]`` images (views or CCMs); it is scored against the true six
(:mod:`atom.toyworld.multiview_data`) as one image: the six side by side, ``[3, T, 6 T]``, so that PSNR is
``10 log10(1 / MSE)`` over all six views' pixels and SSIM the mean over the strip
(:mod:`atom.evaluation.image_metrics`). Tables report the median over objects (and the minimum). The
comparison grid has one row per object: the input picture resized to a tile, then the six generated images,
then the six true ones.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from atom.evaluation.image_metrics import psnr, ssim
from atom.model.multiview_diffusion import MultiViewDiffusionModel
from atom.toyworld.multiview_data import MultiViewExamples


def side_by_side(images: Tensor) -> Tensor:
    """``[B, 6, C, T, T]`` -> ``[B, C, T, 6 T]``, the six images left to right."""
    if images.dim() != 5 or images.shape[1] != 6:
        raise ValueError(f"images must be [B, 6, C, T, T], got {list(images.shape)}")
    return torch.cat(images.unbind(1), dim=-1)


@dataclass
class ImageScores:
    """Per-object scores of six generated images against the true six.

    Attributes:
        psnr: [B] dB. ssim: [B].
    """

    psnr: Tensor
    ssim: Tensor

    def summary(self) -> dict[str, float]:
        """Median and minimum PSNR (dB) and SSIM over the objects."""
        values = {"psnr": self.psnr.tolist(), "ssim": self.ssim.tolist()}
        return {f"{stat}_{name}": float(fn(v)) for name, v in values.items()
                for stat, fn in (("median", statistics.median), ("min", min))}


def score_images(generated: Tensor, truth: Tensor) -> ImageScores:
    """PSNR and SSIM per object of ``generated`` vs ``truth``, both ``[B, 6, 3, T, T]`` in [0, 1]."""
    if generated.shape != truth.shape:
        raise ValueError(f"generated and truth must have one shape, got {list(generated.shape)} and "
                         f"{list(truth.shape)}")
    a, b = side_by_side(generated).double(), side_by_side(truth).double()
    return ImageScores(psnr(a, b).float(), ssim(a, b).float())


def generate(model: MultiViewDiffusionModel, condition: Tensor, seed: int, batch_size: int = 8,
             num_inference_steps: int | None = None, guidance_scale: float | None = None) -> Tensor:
    """``model.sample`` over ``condition`` in batches, one generator seeded ``seed`` for the whole run."""
    generator = torch.Generator().manual_seed(seed)
    out = [model.sample(condition[start:start + batch_size], num_inference_steps=num_inference_steps,
                        guidance_scale=guidance_scale, generator=generator)
           for start in range(0, condition.shape[0], batch_size)]
    return torch.cat(out)


def stage_condition(model: MultiViewDiffusionModel, examples: MultiViewExamples) -> Tensor:
    """The condition a stage is trained on: the pictures ("views") or the TRUE six views ("ccms")."""
    return examples.inputs if model.config.stage == "views" else examples.views


def stage_truth(model: MultiViewDiffusionModel, examples: MultiViewExamples) -> Tensor:
    """The six images a stage should produce: views or CCMs."""
    return examples.views if model.config.stage == "views" else examples.ccms


def comparison_grid(inputs: Tensor, generated: Tensor, truth: Tensor) -> tuple[Tensor, int]:
    """Tiles ``[B * 13, 3, T, T]`` and the row count B for :func:`atom.render.images.image_grid`: per object
    the picture ``inputs`` [B, 3, S, S] resized to T, the six ``generated``, the six ``truth``."""
    size = truth.shape[-1]
    picture = F.interpolate(inputs, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    rows = torch.cat([picture[:, None].clamp(0, 1), generated, truth], dim=1)
    return rows.flatten(0, 1), rows.shape[0]
