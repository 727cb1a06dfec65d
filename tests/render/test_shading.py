import math

import pytest
import torch

from atom.render.cameras import look_at
from atom.render.shading import random_light_directions, shade


def test_lambertian_values():
    albedo = torch.tensor([[0.5, 0.2, 1.0]]).expand(4, 3)
    normals = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 0.6, 0.8]])
    light = torch.tensor([0.0, 0.0, 2.0])  # normalised inside
    cosine = torch.tensor([1.0, 0.0, 0.0, 0.8])[:, None]  # max(0, n.l)
    expected = albedo * (0.3 + 0.7 * cosine)
    torch.testing.assert_close(shade(albedo, normals, light), expected)
    torch.testing.assert_close(
        shade(albedo, normals, light, mode="textureless"), 0.3 + 0.7 * cosine.expand(4, 3)
    )
    torch.testing.assert_close(shade(albedo, normals, light, mode="albedo"), albedo)
    torch.testing.assert_close(shade(albedo, normals, light, ambient=1.0), albedo)


def test_one_light_per_batch_element_for_images():
    normals = torch.zeros(2, 4, 5, 3)
    normals[..., 0] = 1.0
    lights = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    shaded = shade(torch.ones(2, 4, 5, 3), normals, lights, ambient=0.25)
    assert torch.allclose(shaded[0], torch.ones(4, 5, 3)) and torch.allclose(
        shaded[1], torch.full((4, 5, 3), 0.25)
    )


def test_bad_mode_and_shapes():
    with pytest.raises(ValueError, match="'phong'.*albedo, lambertian, textureless"):
        shade(torch.ones(3), torch.ones(3), torch.ones(3), mode="phong")
    with pytest.raises(ValueError, match="end in 3"):
        shade(torch.ones(4), torch.ones(4), torch.ones(3))


def test_random_lights_are_near_the_camera_and_reproducible():
    cameras = look_at(torch.full((500,), 20.0), torch.linspace(-180, 180, 500), 2.8, 40.0)
    lights = random_light_directions(cameras, torch.Generator().manual_seed(0))
    again = random_light_directions(cameras.position(), torch.Generator().manual_seed(0))
    assert lights.shape == (500, 3)
    torch.testing.assert_close(lights.norm(dim=-1), torch.ones(500))
    torch.testing.assert_close(lights, again)
    towards_camera = torch.nn.functional.normalize(cameras.position(), dim=-1)
    cosine = (lights * towards_camera).sum(-1)
    # Noise of 1 world unit at 2.8 units: lights mostly within ~40 degrees of the camera, never identical.
    assert cosine.median() > math.cos(math.radians(30)) and cosine.max() < 1.0 - 1e-6
    close = random_light_directions(cameras, torch.Generator().manual_seed(0), noise_std=0.0)
    torch.testing.assert_close(close, towards_camera)
