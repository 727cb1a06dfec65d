"""The CRM toy data: posed objects, the held-out rule and the rendered inputs/targets."""

from __future__ import annotations

import math

import pytest
import torch

from atom.render import make_rasterizer, sample_cameras
from atom.toyworld.crm_data import (
    DIAGONAL_RADIUS,
    SCALE_RANGE,
    UNSEEN_COLOR_RADIUS,
    UNSEEN_YAW,
    PosedObject,
    held_out_objects,
    is_held_out,
    render_albedo_views,
    render_unet_inputs,
    sample_training_object,
    unseen_color_centres,
)
from atom.toyworld.shapes import COLORS, SHAPES


def _hits_held_out(obj: PosedObject) -> bool:
    """The docstring's rule, recomputed here from its constants (independent of ``is_held_out``)."""
    rgb = obj.color
    diagonal = math.dist(rgb, COLORS[obj.shape].rgb) <= DIAGONAL_RADIUS
    unseen = any(math.dist(rgb, centre) <= UNSEEN_COLOR_RADIUS for centre in unseen_color_centres().tolist())
    return diagonal or unseen or UNSEEN_YAW[0] <= obj.yaw % 90.0 <= UNSEEN_YAW[1]


def test_training_draws_never_hit_the_held_out_set_and_cover_the_rest():
    generator = torch.Generator().manual_seed(0)
    objects = [sample_training_object(generator) for _ in range(3000)]
    assert not any(_hits_held_out(obj) for obj in objects)
    assert {obj.shape for obj in objects} == set(range(len(SHAPES)))
    folded = torch.tensor([obj.yaw % 90.0 for obj in objects])
    assert float(folded.min()) < 5 and float(folded.max()) > 85  # the seen yaws are drawn up to the interval
    assert all(SCALE_RANGE[0] <= obj.scale <= SCALE_RANGE[1] for obj in objects)


def test_the_evaluation_objects_are_all_held_out():
    objects = held_out_objects()
    assert len(objects) == 3 * len(SHAPES)
    assert all(_hits_held_out(obj) and is_held_out(obj.shape, obj.color, obj.yaw) for obj in objects)
    diagonal = [obj for obj in objects if obj.category == "diagonal"]
    assert [(obj.shape, obj.color) for obj in diagonal] == [(i, COLORS[i].rgb) for i in range(len(SHAPES))]


def test_the_sampler_is_deterministic_in_its_generator():
    first = [sample_training_object(torch.Generator().manual_seed(3)) for _ in range(2)]
    again = [sample_training_object(torch.Generator().manual_seed(3)) for _ in range(2)]
    other = sample_training_object(torch.Generator().manual_seed(4))
    assert first[0] == first[1] == again[0]
    assert other != first[0]


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_posed_objects_stay_inside_the_cube_with_margin(shape):
    for yaw in range(0, 360, 15):
        obj = PosedObject(shape, (0.5, 0.5, 0.5), float(yaw), SCALE_RANGE[1])
        assert float(obj.mesh(32).vertices.abs().max()) < 0.9


def test_posed_sdf_is_the_transformed_shape_sdf():
    obj = PosedObject(1, (0.1, 0.2, 0.3), 30.0, 0.8)  # the cube, turned and shrunk
    # its face centre along the turned x axis lies on the surface; twice as far is outside by 0.4
    axis = torch.tensor([math.cos(math.radians(30.0)), math.sin(math.radians(30.0)), 0.0])
    assert float(obj.sdf(0.5 * 0.8 * axis)) == pytest.approx(0.0, abs=1e-5)
    assert float(obj.sdf(1.0 * 0.8 * axis)) == pytest.approx(0.4, abs=1e-5)
    vertices = obj.mesh(48).vertices
    assert float(obj.sdf(vertices).abs().max()) < 2.0 / 48


def test_rendered_inputs_and_targets():
    rasterizer = make_rasterizer("torch")
    obj = PosedObject(0, (0.9, 0.1, 0.2), 0.0, 1.0)  # sphere of radius 0.55
    unet_input = render_unet_inputs([obj], 32, 32, rasterizer)
    assert unet_input.shape == (1, 12, 32, 96)
    cameras = sample_cameras(2, generator=torch.Generator().manual_seed(0))
    views = render_albedo_views(obj.mesh(32), cameras, 32, rasterizer)
    covered = views.mask[:, 0] > 0.999  # pixels not blended with the background at the silhouette
    assert torch.allclose(views.rgb.permute(0, 2, 3, 1)[covered], torch.tensor([0.9, 0.1, 0.2]), atol=1e-5)
    # the depth of the nearest visible point: camera distance minus the radius (0.55) at the image centre
    centre = views.depth[:, 0, 16, 16]
    assert torch.allclose(centre, cameras.distance - 0.55, atol=0.03)
