"""SDS is only meaningful if the trainer's renders look like the prior's training images: the stage-2 training
path and the toy world's prior-data path, fed the same analytic shape, cameras and shading, give one image."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from atom.geometry import tetrahedral_grid
from atom.render import ViewShading, look_at, make_rasterizer
from atom.toyworld.renders import render_geometry, shade_geometry
from atom.toyworld.shapes import COLORS, SHAPES
from atom.training.stages import Views, render_stage2

GRID = 24  # tetrahedral grid cells per axis: the toy world's ground-truth mesh uses the same grid
RESOLUTION = 48


class AnalyticModel(nn.Module):
    """Stands in for the network: the toy shape's exact SDF, a uniform color, no deformation."""

    def __init__(self, shape_index: int, rgb: tuple[float, float, float]) -> None:
        super().__init__()
        self.shape = SHAPES[shape_index]
        self.rgb = torch.tensor(rgb)

    def sdf(self, triplanes: Tensor, points: Tensor) -> Tensor:
        return self.shape.sdf(points)

    def deformation(self, triplane: Tensor, points: Tensor, cell_size: float) -> Tensor:
        return torch.zeros_like(points)

    def color(self, triplane: Tensor, points: Tensor) -> Tensor:
        return self.rgb.expand(*points.shape[:-1], 3)


def test_stage2_renders_match_the_prior_training_renders():
    shape_index, color = 1, COLORS[2]
    cameras = look_at(torch.tensor([20.0, 35.0, 5.0]), torch.tensor([30.0, 150.0, -100.0]),
                      torch.tensor([2.7, 2.6, 2.9]), torch.tensor([42.0, 40.0, 45.0]))
    modes = ["albedo", "lambertian", "textureless"]
    lights = torch.nn.functional.normalize(cameras.position() + torch.tensor([0.3, -0.5, 0.8]), dim=-1)
    background = (1.0, 1.0, 1.0)
    ambient = 0.3

    shading = ViewShading(modes, lights, torch.tensor(background), ambient)
    model = AnalyticModel(shape_index, color.rgb)
    triplanes = torch.zeros(1, 3, 1, 2, 2)
    grid = tetrahedral_grid(GRID)
    trained = render_stage2(model, triplanes, grid, make_rasterizer("torch"), Views(cameras, shading), RESOLUTION)

    buffers = render_geometry(shape_index, cameras, RESOLUTION, mesh_resolution=GRID)
    prior = shade_geometry(buffers, color.rgb, lights, modes, RESOLUTION, ambient, background)

    assert trained.images.shape == prior.shape == (3, 3, RESOLUTION, RESOLUTION)
    covered = buffers.coverage > 0.5
    assert covered.float().mean() > 0.05, "the shape should fill part of every view"
    torch.testing.assert_close(trained.images, prior, rtol=0, atol=1e-5)
