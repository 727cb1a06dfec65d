"""Multi-view diffusion data: targets are crm_data's renders, held-out objects never train, the picture's camera."""

import math

import pytest
import torch

from atom.render import make_rasterizer
from atom.render.crm_tiles import crm_unet_input
from atom.toyworld.crm_data import PosedObject, held_out_objects, is_held_out, render_unet_inputs
from atom.toyworld.multiview_data import (
    ELEVATION_RANGE,
    INPUT_DISTANCE,
    INPUT_FOV,
    centre_on_mask,
    held_out_examples,
    render_examples,
    render_input,
    sample_training_examples,
)

RASTERIZER = make_rasterizer("torch")
MESH_RESOLUTION = 16


def test_targets_equal_what_crm_data_renders_for_the_reconstruction_model():
    objects = [PosedObject(0, (0.9, 0.2, 0.1), 20.0, 1.0), PosedObject(5, (0.1, 0.3, 0.8), 70.0, 0.8)]
    examples = render_examples(objects, torch.tensor([0.0, 30.0]), 32, 16, RASTERIZER, MESH_RESOLUTION)
    expected = render_unet_inputs(objects, 16, MESH_RESOLUTION, RASTERIZER)
    torch.testing.assert_close(crm_unet_input(examples.views, examples.ccms), expected)
    assert examples.inputs.shape == (2, 3, 32, 32)
    assert examples.views.shape == examples.ccms.shape == (2, 6, 3, 16, 16)


def test_training_draws_are_never_held_out_and_use_the_elevation_range():
    examples = sample_training_examples(48, torch.Generator().manual_seed(3), 16, 16, RASTERIZER, 12)
    assert not any(is_held_out(o.shape, o.color, o.yaw) for o in examples.objects)
    assert all(o.category == "train" for o in examples.objects)
    assert float(examples.elevations.min()) >= ELEVATION_RANGE[0]
    assert float(examples.elevations.max()) <= ELEVATION_RANGE[1]
    assert float(examples.elevations.max() - examples.elevations.min()) > 20.0


def test_training_draws_are_reproducible_from_the_generator():
    a = sample_training_examples(3, torch.Generator().manual_seed(1), 16, 16, RASTERIZER, 12)
    b = sample_training_examples(3, torch.Generator().manual_seed(1), 16, 16, RASTERIZER, 12)
    assert a.objects == b.objects
    assert torch.equal(a.inputs, b.inputs)


def test_held_out_examples_are_the_crm_evaluation_objects():
    examples = held_out_examples(16, 16, RASTERIZER, 12)
    assert examples.objects == held_out_objects()
    assert all(is_held_out(o.shape, o.color, o.yaw) for o in examples.objects)
    assert torch.equal(examples.elevations, held_out_examples(16, 16, RASTERIZER, 12).elevations)


def test_picture_is_the_object_centred_on_grey_at_the_expected_size():
    """A sphere of radius r seen from distance d with field of view f covers a disc of radius
    ``(S / 2) * tan(asin(r / d)) / tan(f / 2)`` pixels (the silhouette cone), centred in the image."""
    size = 64
    sphere = PosedObject(0, (1.0, 0.0, 0.0), 0.0, 1.0)  # SHAPES[0] is the sphere of radius 0.55
    picture = render_input(sphere, 25.0, size, RASTERIZER, 32)
    assert picture.shape == (3, size, size)
    grey = 127.0 / 255.0
    torch.testing.assert_close(picture[:, 0, 0], torch.full((3,), grey))
    coverage = (picture[0] - grey) / (1.0 - grey)  # red: 1 on the object, grey outside, blended at edges
    area = float(coverage.clamp(0, 1).sum())
    radius = (size / 2) * math.tan(math.asin(0.55 / INPUT_DISTANCE)) / math.tan(math.radians(INPUT_FOV / 2))
    assert area == pytest.approx(math.pi * radius**2, rel=0.05)
    rows, cols = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    weights = coverage.clamp(0, 1) / area
    assert float((weights * rows).sum()) == pytest.approx(size / 2, abs=0.5)
    assert float((weights * cols).sum()) == pytest.approx(size / 2, abs=0.5)


def test_an_off_centre_object_is_centred_on_its_mask():
    """A cone seen from above has its silhouette centroid off the origin's projection; the picture moves it to
    the centre (to a fraction of a pixel), the colors unchanged (grey around, the cone's color inside)."""
    cone = PosedObject(3, (0.1, 0.2, 0.9), 0.0, 1.0)
    picture = render_input(cone, 40.0, 64, RASTERIZER, 32, supersample=1)
    grey = 127.0 / 255.0
    coverage = ((grey - picture[0]) / (grey - 0.1)).clamp(0, 1)  # red channel: 0.1 on the cone
    rows, cols = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    assert float((coverage * rows).sum() / coverage.sum()) == pytest.approx(32.0, abs=0.3)
    assert float((coverage * cols).sum() / coverage.sum()) == pytest.approx(32.0, abs=0.3)
    assert float(picture.min()) >= 0.0 and float(picture.max()) <= 1.0


def test_centre_on_mask_moves_a_block_by_whole_pixels_exactly():
    image = torch.full((1, 3, 16, 16), 0.5)
    mask = torch.zeros(1, 1, 16, 16)
    image[..., 2:6, 3:7] = 0.9  # centroid (4, 5) -> (8, 8): a shift of (4, 3) pixels
    mask[..., 2:6, 3:7] = 1.0
    expected = torch.full((1, 3, 16, 16), 0.5)
    expected[..., 6:10, 6:10] = 0.9
    torch.testing.assert_close(centre_on_mask(image, mask, 0.5), expected)


def test_picture_follows_the_object_yaw_not_a_random_camera_azimuth():
    """The camera sits at CRM's front: turning a cube by 45 degrees changes the picture, 90 does not."""
    cube = PosedObject(1, (0.2, 0.8, 0.3), 0.0, 1.0)
    turned = [render_input(PosedObject(1, cube.color, yaw, 1.0), 10.0, 32, RASTERIZER, 32) for yaw in (0, 45, 90)]
    quarter_turn = float((turned[0] - turned[2]).abs().mean())  # the cube's symmetry: only mesh facets differ
    eighth_turn = float((turned[0] - turned[1]).abs().mean())
    assert quarter_turn < 0.2 * eighth_turn


def test_bad_elevations_are_refused():
    with pytest.raises(ValueError, match=r"elevations must be \[B\] = \[1\]"):
        render_examples([held_out_objects()[0]], torch.zeros(2), 16, 16, RASTERIZER, 12)
