import math

import numpy as np
import pytest
import torch

from atom.render.cameras import Cameras, look_at, sample_cameras, turntable


def _formula_position(elevation: float, azimuth: float, distance: float) -> np.ndarray:
    el, az = math.radians(elevation), math.radians(azimuth)
    return distance * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


def test_position_matches_formula():
    angles = [(0.0, 0.0, 2.0), (30.0, 45.0, 2.5), (-10.0, -120.0, 3.0), (89.0, 200.0, 1.5)]
    cameras = look_at(*(torch.tensor(column, dtype=torch.float64) for column in zip(*angles)), 40.0)
    expected = np.stack([_formula_position(*angle) for angle in angles])
    np.testing.assert_allclose(cameras.position().numpy(), expected, atol=1e-12)
    # Azimuth 0 sits on +X; elevation 90 on +Z.
    np.testing.assert_allclose(look_at(0.0, 0.0, 2.0, 40.0).position()[0].numpy(), [2, 0, 0], atol=1e-6)


@pytest.mark.parametrize("elevation", [-90.0, -30.0, 0.0, 45.0, 90.0])
def test_camera_to_world_is_a_rigid_look_at(elevation):
    cameras = look_at(elevation, torch.tensor([0.0, 73.0, -150.0]), 2.5, 40.0)
    c2w = cameras.camera_to_world().double()
    assert torch.isfinite(c2w).all()
    rotation = c2w[:, :3, :3]
    torch.testing.assert_close(
        rotation.transpose(1, 2) @ rotation,
        torch.eye(3, dtype=torch.float64).expand(3, 3, 3),
        atol=1e-6,
        rtol=0,
    )
    torch.testing.assert_close(
        torch.linalg.det(rotation), torch.ones(3, dtype=torch.float64), atol=1e-6, rtol=0
    )
    # The camera looks down its -Z axis at the origin, from its position.
    position = cameras.position().double()
    torch.testing.assert_close(c2w[:, :3, 3], position)
    torch.testing.assert_close(
        -c2w[:, :3, 2], -position / position.norm(dim=-1, keepdim=True), atol=1e-6, rtol=0
    )
    if abs(elevation) < 90:  # image up has a positive world-Z component
        assert (c2w[:, 2, 1] > 0).all()
    torch.testing.assert_close(
        cameras.world_to_camera().double() @ c2w,
        torch.eye(4, dtype=torch.float64).expand(3, 4, 4),
        atol=1e-5,
        rtol=0,
    )


def _pixel_of(points: torch.Tensor, cameras: Cameras, height: int, width: int) -> torch.Tensor:
    """Pixel-space (col, row) of world points [B, N, 3] through world_to_clip: an independent path."""
    homogeneous = torch.cat([points, torch.ones_like(points[..., :1])], -1)
    clip = homogeneous @ cameras.world_to_clip(aspect=width / height).transpose(1, 2)
    ndc = clip[..., :2] / clip[..., 3:]
    return torch.stack([(ndc[..., 0] + 1) * width / 2, (1 - ndc[..., 1]) * height / 2], -1)


@pytest.mark.parametrize(("height", "width"), [(16, 16), (12, 20)])
def test_projected_point_lands_on_the_pixel_of_its_ray(height, width):
    cameras = look_at(
        torch.tensor([10.0, -35.0, 90.0], dtype=torch.float64),
        torch.tensor([0.0, 135.0, 20.0], dtype=torch.float64),
        2.7,
        torch.tensor([40.0, 60.0, 30.0], dtype=torch.float64),
    )
    origins, directions = cameras.rays(height, width)
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(3, height * width, dtype=torch.float64))
    distance = 1.0 + 3.0 * torch.rand(3, height * width, 1, dtype=torch.float64)
    pixel = _pixel_of(origins + distance * directions, cameras, height, width)
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    expected = torch.stack([cols.reshape(-1) + 0.5, rows.reshape(-1) + 0.5], -1).double().expand(3, -1, -1)
    torch.testing.assert_close(pixel, expected, atol=1e-6, rtol=0)
    # Row 0 is the top of the image: its rays point up (world +Z) relative to the centre ray at elevation 10.
    assert directions[0, 0, 2] > directions[0, -1, 2]


def test_sample_cameras_in_range_and_reproducible():
    ranges = dict(
        elevation_range=(-10.0, 45.0),
        azimuth_range=(-180.0, 180.0),
        distance_range=(2.5, 3.0),
        fov_range=(40.0, 45.0),
    )
    first = sample_cameras(500, **ranges, generator=torch.Generator().manual_seed(3))
    second = sample_cameras(500, **ranges, generator=torch.Generator().manual_seed(3))
    other = sample_cameras(500, **ranges, generator=torch.Generator().manual_seed(4))
    for name, (low, high) in zip(("elevation", "azimuth", "distance", "fov"), ranges.values()):
        values = getattr(first, name)
        assert values.shape == (500,) and values.dtype == torch.float32
        assert low <= values.min() and values.max() <= high
        assert values.max() - values.min() > 0.9 * (high - low)  # spread over the range, not constant
        torch.testing.assert_close(values, getattr(second, name), rtol=0, atol=0)
        assert not torch.equal(values, getattr(other, name))
    with pytest.raises(ValueError, match="elevation_range"):
        sample_cameras(2, elevation_range=(10.0, 0.0))


def test_turntable_indexing_and_validation():
    cameras = turntable(8)
    assert len(cameras) == 8
    torch.testing.assert_close(cameras.azimuth, torch.arange(8.0) * 45.0)
    assert (
        (cameras.elevation == 15.0).all() and (cameras.distance == 2.8).all() and (cameras.fov == 40.0).all()
    )
    assert len(cameras[3]) == 1 and cameras[3].azimuth.item() == 135.0
    assert len(cameras[2:5]) == 3 and len(cameras[torch.tensor([0, 7])]) == 2
    assert cameras.to("cpu").device.type == "cpu"
    with pytest.raises(ValueError, match="one length"):
        Cameras(torch.zeros(2), torch.zeros(3), torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="broadcast"):
        look_at(torch.zeros(2), torch.zeros(3), 2.5, 40.0)


def test_world_to_clip_depth_range():
    """Points at the near and far planes map to NDC z = -1 and +1 (OpenGL convention)."""
    cameras = look_at(20.0, 30.0, 3.0, 40.0)
    c2w = cameras.camera_to_world()[0]
    forward = -c2w[:3, 2]
    for depth, expected in ((0.1, -1.0), (10.0, 1.0)):
        point = torch.cat([c2w[:3, 3] + depth * forward, torch.ones(1)])
        clip = cameras.world_to_clip(near=0.1, far=10.0)[0] @ point
        assert clip[2] / clip[3] == pytest.approx(expected, abs=1e-4)
        assert clip[3] == pytest.approx(depth, rel=1e-5)
