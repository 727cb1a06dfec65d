"""Stage 1's opacity term against the analytic coverage of a sphere, and its weight in AToM's loss."""

from __future__ import annotations

import pytest
import torch

from atom.render import NeuSRenderer, ViewShading, turntable
from atom.training.build import build_trainer
from atom.training.stages import Views, render_stage1

RADIUS = 0.5


class SphereField:
    """Stands in for the generator: the SDF of a sphere at the origin, and one color."""

    def __init__(self, radius: float) -> None:
        self.radius = radius

    def sdf(self, triplanes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return points.norm(dim=-1) - self.radius

    def sdf_and_gradient(self, triplanes: torch.Tensor, points: torch.Tensor):
        return self.sdf(triplanes, points), torch.nn.functional.normalize(points, dim=-1)

    def color(self, triplanes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return torch.full((*points.shape[:-1], 3), 0.5)


def sphere_coverage(cameras, resolution: int, radius: float) -> float:
    """The share of the cameras' pixel rays that hit the sphere: closest approach to the origin < radius."""
    origins, directions = cameras.rays(resolution, resolution)
    directions = torch.nn.functional.normalize(directions, dim=-1)
    along = -(origins * directions).sum(-1)
    closest = (origins + along[..., None] * directions).norm(dim=-1)
    return float(((closest < radius) & (along > 0)).float().mean())


def views_of(cameras) -> Views:
    return Views(cameras, ViewShading(["albedo"] * len(cameras), torch.zeros(len(cameras), 3), torch.ones(3), 0.3))


def test_the_opacity_term_is_the_share_of_pixels_the_surface_covers():
    cameras = turntable(4, elevation=20.0, distance=2.5, fov=40.0)
    neus = NeuSRenderer(num_samples=32, num_importance=16, init_inv_std=0.6)
    triplanes = torch.zeros(1, 1)
    with torch.no_grad():
        covered = render_stage1(SphereField(RADIUS), triplanes, neus, views_of(cameras), 32).losses["opacity"]
        empty = render_stage1(SphereField(-1.0),  # SDF > 0 everywhere: nothing to see
                              triplanes, neus, views_of(cameras), 32).losses["opacity"]
    expected = sphere_coverage(cameras, 32, RADIUS)
    assert 0.1 < expected < 0.5
    assert abs(float(covered) - expected) < 0.02, (float(covered), expected)
    assert float(empty) < 1e-3


def test_the_opacity_weight_adds_the_weighted_term_to_the_stage1_loss(tiny_config, tmp_path):
    outputs = {}
    for weight in (0.0, 3.0):
        torch.manual_seed(0)
        system = build_trainer(tiny_config(tmp_path / f"run{weight}", f"stage1.opacity_weight={weight}"),
                               tmp_path / f"run{weight}").system
        batch = system.sample_batch(0, torch.Generator().manual_seed(0))
        torch.manual_seed(1)  # the same SDS noise and timesteps for both
        outputs[weight] = system(batch)
    opacity = outputs[0.0].scalars["loss/opacity"]
    assert 0.0 < opacity < 1.0 and outputs[3.0].scalars["loss/opacity"] == opacity
    added = float((outputs[3.0].loss - outputs[0.0].loss).detach())
    assert added == pytest.approx(3.0 * opacity, abs=1e-3)  # float32 sums of ~10
