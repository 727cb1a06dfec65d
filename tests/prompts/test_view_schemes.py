"""View schemes: the one function from a camera (azimuth, elevation) to its view label, its sector edges,
its agreement with the camera convention (which side is "right" in a render), and the refusal of a guidance
model whose recorded scheme differs from the configured one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from atom.config import CONF_DIR, asset_path, register_configs
from atom.prompts.views import (
    DREAMFUSION4,
    SECTORS8,
    VIEW_SCHEME_FILE,
    get_view_scheme,
    read_view_scheme,
    resolve_view_scheme,
    save_view_scheme,
)
from atom.render import look_at, make_rasterizer, render_mesh
from atom.toyworld.shapes import COLORS, SHAPES, toy64


@pytest.mark.parametrize(("azimuth", "expected"), [
    (0.0, "front"), (22.49, "front"), (22.5, "front-right"), (-22.5, "front"), (-22.51, "front-left"),
    (45.0, "front-right"), (67.49, "front-right"), (67.5, "right"), (90.0, "right"), (112.5, "back-right"),
    (135.0, "back-right"), (157.49, "back-right"), (157.5, "back"), (180.0, "back"), (-180.0, "back"),
    (-157.5, "back-left"), (-157.51, "back"), (-112.51, "back-left"), (-112.5, "left"), (-90.0, "left"),
    (-67.51, "left"), (-67.5, "front-left"), (-45.0, "front-left"),
    (360.0, "front"), (405.0, "front-right"), (-315.0, "front-right"), (270.0, "left"), (-1e-12, "front"),
])
def test_sectors8_labels_at_sector_edges(azimuth: float, expected: str) -> None:
    assert SECTORS8.label(azimuth, 10.0) == expected


@pytest.mark.parametrize(("azimuth", "expected"), [
    (0.0, "front"), (44.0, "front"), (-44.0, "front"), (46.0, "side"), (90.0, "side"), (-90.0, "side"),
    (134.0, "side"), (136.0, "back"), (180.0, "back"), (-170.0, "back"), (360.0, "front"), (300.0, "side"),
])
def test_dreamfusion4_labels_keep_threestudio_thresholds(azimuth: float, expected: str) -> None:
    assert DREAMFUSION4.label(azimuth, 0.0) == expected


def test_overhead_above_60_degrees_in_every_scheme() -> None:
    for scheme in (DREAMFUSION4, SECTORS8):
        assert scheme.label(45.0, 60.0) != "overhead"
        assert scheme.label(45.0, 60.01) == "overhead" and scheme.label(-170.0, 89.0) == "overhead"
        assert scheme.labels[-1] == "overhead"
    assert DREAMFUSION4.labels == ("front", "side", "back", "overhead")
    assert SECTORS8.labels[:3] == ("front", "front-right", "right") and len(SECTORS8.labels) == 9


def test_view_labels_of_camera_tensors() -> None:
    cameras = look_at(torch.tensor([0.0, 10.0, 70.0]), torch.tensor([0.0, 100.0, 100.0]), 2.5, 40.0)
    assert SECTORS8.view_labels(cameras.azimuth, cameras.elevation) == ["front", "right", "overhead"]
    assert DREAMFUSION4.view_labels(cameras.azimuth, cameras.elevation) == ["front", "side", "overhead"]
    with pytest.raises(ValueError, match=r"\[B\]"):
        SECTORS8.view_labels(cameras.azimuth, cameras.elevation[:2])


def test_sector_azimuths_are_closed_sectors() -> None:
    assert SECTORS8.sector_azimuths("front", 7.5) == [-22.5, -15.0, -7.5, 0.0, 7.5, 15.0, 22.5]
    assert SECTORS8.sector_azimuths("back", 22.5) == [-157.5, 157.5, 180.0]
    assert DREAMFUSION4.sector_azimuths("side", 45.0) == [-135.0, -90.0, -45.0, 45.0, 90.0, 135.0]
    with pytest.raises(ValueError, match="'top'"):
        SECTORS8.sector_azimuths("top", 7.5)


def _marker_columns(offset: tuple[float, float, float], azimuth: float, resolution: int = 64) -> float:
    """Mean image column (0 = left edge, 1 = right edge) of a small cube centred at ``offset`` seen from the
    camera at ``azimuth`` (elevation 0)."""
    mesh = toy64()[[shape.name for shape in SHAPES].index("cube") * len(COLORS)].ground_truth_mesh(12)
    vertices = mesh.vertices * 0.2 + torch.tensor(offset)
    out = render_mesh(vertices, mesh.faces, look_at(0.0, azimuth, 3.0, 40.0), resolution, make_rasterizer("torch"))
    mask = out.mask[0, 0]
    assert mask.sum() > 4, "the marker must be in view"
    columns = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    return float((mask.sum(dim=0) * columns).sum() / mask.sum())


def test_right_is_the_front_cameras_image_right() -> None:
    """The front camera sees a +Y marker on its image right; the camera labelled "right" is the one on that
    side (+Y, azimuth +90), so it sees the +Y marker head-on and the object's front (+X) on its image left."""
    centre = 0.5
    assert SECTORS8.label(0.0, 0.0) == "front"
    assert _marker_columns((0.0, 0.7, 0.0), 0.0) > centre + 0.1
    right = [azimuth for azimuth in (90.0, -90.0) if SECTORS8.label(azimuth, 0.0) == "right"]
    assert right == [90.0]
    assert abs(_marker_columns((0.0, 0.7, 0.0), 90.0) - centre) < 0.02
    assert _marker_columns((0.7, 0.0, 0.0), 90.0) < centre - 0.1
    assert SECTORS8.label(-90.0, 0.0) == "left" and _marker_columns((0.7, 0.0, 0.0), -90.0) > centre + 0.1
    # Half way round to the right: the +Y marker is nearer the middle of the image than from the front.
    assert SECTORS8.label(45.0, 0.0) == "front-right"
    assert _marker_columns((0.0, 0.7, 0.0), 45.0) < _marker_columns((0.0, 0.7, 0.0), 0.0)


def test_a_model_folder_records_its_scheme_and_a_mismatch_is_refused(tmp_path: Path) -> None:
    assert read_view_scheme(tmp_path) is None  # no file: DeepFloyd IF, Stable Diffusion, a hub id
    assert resolve_view_scheme("dreamfusion4", tmp_path) is DREAMFUSION4
    assert resolve_view_scheme("sectors8", "DeepFloyd/IF-I-XL-v1.0") is SECTORS8
    save_view_scheme(tmp_path, SECTORS8)
    assert read_view_scheme(tmp_path) is SECTORS8
    assert resolve_view_scheme("sectors8", tmp_path) is SECTORS8
    with pytest.raises(ValueError, match="'dreamfusion4' is configured.*'sectors8'.*guidance.view_scheme=sectors8"):
        resolve_view_scheme("dreamfusion4", tmp_path)
    with pytest.raises(ValueError, match="view scheme must be one of.*'sectors4'"):
        resolve_view_scheme("sectors4", tmp_path)
    # A file that names a scheme but describes other sectors is refused too.
    record = json.loads((tmp_path / VIEW_SCHEME_FILE).read_text())
    record["sector_edges"] = [edge + 10.0 for edge in record["sector_edges"]]
    (tmp_path / VIEW_SCHEME_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match="describes view scheme 'sectors8'"):
        read_view_scheme(tmp_path)


def test_configured_guidance_schemes_match_their_models() -> None:
    """Each guidance config names a known scheme; the toy prior's is the one its bundled folder records."""
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for name in ("toy_prior", "deepfloyd_if", "stable_diffusion"):
            guidance = compose("train", overrides=[f"guidance={name}"]).guidance
            scheme = resolve_view_scheme(guidance.view_scheme.value, guidance.path)
            if name != "toy_prior":
                assert scheme is DREAMFUSION4
    toy = read_view_scheme(asset_path("toy_prior"))
    assert toy is not None and toy is get_view_scheme(toy.name)
