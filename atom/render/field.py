"""The interface between a neural (or analytic) SDF field and the NeuS volume renderer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor


@dataclass
class FieldSamples:
    """Field values at M points per batch element.

    Attributes:
        sdf: [B, M] signed distance (negative inside), world units.
        gradient: [B, M, 3] d sdf / d x (about unit length for a true SDF).
        rgb: [B, M, 3] color in [0, 1].
    """

    sdf: Tensor
    gradient: Tensor
    rgb: Tensor


class SDFField(Protocol):
    """Anything that evaluates an SDF, its gradient and color at world points [B, M, 3].

    The renderer calls it once under ``torch.no_grad()`` (to place importance samples; only ``sdf`` is used
    there) and once with gradients enabled. A field that differentiates itself for ``gradient`` should use
    ``torch.enable_grad()`` and ``create_graph=torch.is_grad_enabled()`` of the caller.
    """

    def __call__(self, points: Tensor) -> FieldSamples: ...


class SphereField:
    """Analytic sphere ``|x - centre| - radius`` of one color: a reference field for checks, benchmarks."""

    def __init__(
        self,
        radius: float = 0.5,
        centre: tuple[float, float, float] = (0.0, 0.0, 0.0),
        color: tuple[float, float, float] = (0.8, 0.8, 0.8),
    ) -> None:
        if radius <= 0:
            raise ValueError(f"radius must be positive, got {radius}")
        self.radius = radius
        self.centre = centre
        self.color = color

    def __call__(self, points: Tensor) -> FieldSamples:
        offset = points - points.new_tensor(self.centre)
        length = offset.norm(dim=-1)
        gradient = offset / length.clamp(min=1e-12)[..., None]
        rgb = points.new_tensor(self.color).expand_as(points)
        return FieldSamples(sdf=length - self.radius, gradient=gradient, rgb=rgb)
