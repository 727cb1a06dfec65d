"""The prior's training renders: deterministic by seed, cached exactly, captioned with the right prompt and
view, and colored as the shading rules say."""

from __future__ import annotations

import math

import pytest
import torch

from atom.prompts.views import VIEWS
from atom.render import look_at, sample_cameras
from atom.toyworld.renders import render_dataset, render_geometry, shade_geometry
from atom.toyworld.shapes import COLORS, toy64

SMALL = dict(resolution=16, views_per_object=6, supersample=2, mesh_resolution=16, progress=False)
CUBE_GREEN, CUBE_PURPLE = 1 * 8 + 1, 1 * 8 + 4


@pytest.fixture(scope="module")
def fresh():
    return render_dataset(object_ids=[CUBE_GREEN, CUBE_PURPLE], seed=3, cache_dir=None, **SMALL)


def test_shapes_ranges_and_captions(fresh):
    images, captions, object_ids, azimuth, elevation = fresh
    assert images.shape == (12, 3, 16, 16) and images.dtype == torch.float32
    assert azimuth.shape == elevation.shape == (12,) and azimuth.dtype == elevation.dtype == torch.float32
    # both colors of a shape share its cameras
    assert torch.equal(azimuth[:6], azimuth[6:]) and torch.equal(elevation[:6], elevation[6:])
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert object_ids.tolist() == [CUBE_GREEN] * 6 + [CUBE_PURPLE] * 6
    # Corners are background (objects stay well inside the frame): white.
    assert torch.equal(images[:, :, 0, 0], torch.ones(12, 3))
    for caption, index in zip(captions, object_ids.tolist(), strict=True):
        prompt, suffix = caption.split(", ")
        assert prompt == toy64()[index].prompt
        assert suffix.endswith(" view") and suffix.removesuffix(" view") in VIEWS


def test_deterministic_and_cached_exactly(fresh, tmp_path):
    first = render_dataset(object_ids=[CUBE_GREEN, CUBE_PURPLE], seed=3, cache_dir=tmp_path, **SMALL)
    assert len(list(tmp_path.glob("*/renders.safetensors"))) == 1
    cached = render_dataset(object_ids=[CUBE_GREEN, CUBE_PURPLE], seed=3, cache_dir=tmp_path, **SMALL)
    for other in (first, cached):
        assert torch.equal(other.images, fresh.images)
        assert other.captions == fresh.captions
        assert torch.equal(other.object_ids, fresh.object_ids)
        assert torch.equal(other.azimuth, fresh.azimuth) and torch.equal(other.elevation, fresh.elevation)
    # A subset of objects gets the same images as in the full set; another seed gives other images.
    alone = render_dataset(object_ids=[CUBE_PURPLE], seed=3, cache_dir=None, **SMALL)
    assert torch.equal(alone.images, fresh.images[6:]) and alone.captions == fresh.captions[6:]
    reseeded = render_dataset(object_ids=[CUBE_PURPLE], seed=4, cache_dir=None, **SMALL)
    assert not torch.equal(reseeded.images, alone.images)


def dreamfusion_view(elevation: float, azimuth: float) -> str:
    """DreamFusion's view names written out independently: overhead above 60 deg elevation, else front
    within 45 deg of azimuth 0, back within 45 deg of 180, side in between."""
    if elevation > 60.0:
        return "overhead"
    azimuth = abs((azimuth + 180.0) % 360.0 - 180.0)
    return "front" if azimuth < 45.0 else "back" if azimuth > 135.0 else "side"


def test_view_suffix_follows_the_camera(fresh):
    # The first shape rendered draws its cameras first from the seeded generator.
    cameras = sample_cameras(6, generator=torch.Generator().manual_seed(3))
    angles = zip(cameras.elevation.tolist(), cameras.azimuth.tolist(), strict=True)
    expected = [dreamfusion_view(elevation, azimuth) for elevation, azimuth in angles]
    assert [caption.split(", ")[1].removesuffix(" view") for caption in fresh.captions[:6]] == expected


def sectors8_view(elevation: float, azimuth: float) -> str:
    """Eight 45-degree sectors written out independently: overhead above 60 deg elevation, else the sector
    whose centre (a multiple of 45 deg; counterclockwise front, front-right, right, ...) is nearest, ties
    going to the larger azimuth (half-open sectors [c - 22.5, c + 22.5))."""
    if elevation > 60.0:
        return "overhead"
    names = ["front", "front-right", "right", "back-right", "back", "back-left", "left", "front-left"]
    return names[math.floor((azimuth + 22.5) / 45.0) % 8]


def test_sectors8_captions_follow_the_camera():
    # Object 0 (shape 0) draws its cameras first from the seeded generator.
    renders = render_dataset(object_ids=[0], seed=5, cache_dir=None, view_scheme="sectors8",
                             **{**SMALL, "views_per_object": 64})
    cameras = sample_cameras(64, generator=torch.Generator().manual_seed(5))
    angles = zip(cameras.elevation.tolist(), cameras.azimuth.tolist(), strict=True)
    expected = [sectors8_view(elevation, azimuth) for elevation, azimuth in angles]
    assert [caption.split(", ")[1].removesuffix(" view") for caption in renders.captions] == expected
    # each image keeps its camera (what a camera-conditioned prior is trained on)
    assert torch.equal(renders.azimuth, cameras.azimuth) and torch.equal(renders.elevation, cameras.elevation)
    assert len(set(expected)) == 8  # 64 cameras reach every sector
    with pytest.raises(ValueError, match="view scheme"):
        render_dataset(object_ids=[0], cache_dir=None, view_scheme="sectors4", **SMALL)


def test_shading_modes_color_the_object_as_documented():
    cameras = look_at(15.0, torch.tensor([0.0, 30.0, 60.0]), 2.75, 42.0)
    buffers = render_geometry(0, cameras, resolution=32, mesh_resolution=16)
    lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
    rgb = torch.tensor(COLORS[2].rgb)
    albedo = shade_geometry(buffers, rgb, lights, ["albedo"] * 3, resolution=16)
    textureless = shade_geometry(buffers, rgb, lights, ["textureless"] * 3, resolution=16)
    lambertian = shade_geometry(buffers, rgb, lights, ["lambertian"] * 3, resolution=16)
    centre = (slice(None), slice(None), 8, 8)  # the sphere's centre, fully covered and facing the light
    assert torch.allclose(albedo[centre], rgb.expand(3, 3), atol=1e-5)
    assert torch.allclose(textureless[centre], torch.ones(3, 3), atol=0.02)  # white, lit head-on
    assert torch.allclose(lambertian[centre], rgb.expand(3, 3), atol=0.02)
    grey = textureless[:, 0] == textureless[:, 1]
    assert bool((grey & (textureless[:, 1] == textureless[:, 2])).all())  # textureless carries no color


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="object_ids"):
        render_dataset(object_ids=[64], cache_dir=None, **SMALL)
    with pytest.raises(ValueError, match="views_per_object"):
        render_dataset(views_per_object=0, cache_dir=None, progress=False)
    cameras = look_at(15.0, 0.0, 2.75, 42.0)
    buffers = render_geometry(0, cameras, resolution=16, mesh_resolution=16)
    with pytest.raises(ValueError, match="shading modes"):
        shade_geometry(buffers, (1.0, 0.0, 0.0), cameras.position(), ["glossy"], resolution=8)
