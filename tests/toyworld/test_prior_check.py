"""The prior check's classifiers read ground-truth renders correctly (so a miss in the check is the
prior's), say "none" for an empty image, and its report round-trips into a model card."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atom.config import CONF_DIR, register_configs
from atom.guidance import camera_features
from atom.prompts.views import DREAMFUSION4, SECTORS8, save_view_scheme
from atom.render import look_at, random_light_directions, sample_cameras
from atom.toyworld import prior_check
from atom.toyworld.prior import build_prior_unet
from atom.toyworld.prior_check import (
    CHECK_ELEVATION,
    CHECK_HEADING,
    YAW_PROBES,
    PriorCheckCommandConfig,
    PriorView,
    build_references,
    build_yaw_references,
    check_yaw,
    classify_color,
    classify_shape,
    classify_yaw,
    format_check,
    record_check,
    shape_scores,
    view_camera,
    yaw_classes,
)
from atom.toyworld.renders import render_geometry, shade_geometry
from atom.toyworld.shapes import COLORS, SHAPES, toy64
from atom.toyworld.train_prior import PredictionType

MESH = 24
# A narrower camera range than the check's, covered by a smaller reference grid: the test stays quick.
RANGES = dict(elevation_range=(0.0, 30.0), azimuth_range=(-30.0, 30.0), distance_range=(2.6, 2.8),
              fov_range=(41.5, 43.5))


@pytest.fixture(scope="module")
def references():
    return build_references(resolution=32, mesh_resolution=MESH, elevations=(0.0, 15.0, 30.0),
                            azimuths=(-30.0, -15.0, 0.0, 15.0, 30.0), distances=(2.6, 2.7, 2.8))


@pytest.fixture(scope="module")
def ground_truth():
    """Each shape from 3 random cameras in each color, albedo or lambertian shading: [192, 3, 32, 32]."""
    generator = torch.Generator().manual_seed(0)
    images, shapes, colors = [], [], []
    for shape_index in range(len(SHAPES)):
        cameras = sample_cameras(3, generator=generator, **RANGES)
        buffers = render_geometry(shape_index, cameras, resolution=64, mesh_resolution=MESH)
        for color_index, color in enumerate(COLORS):
            modes = ["albedo" if flip else "lambertian" for flip in torch.rand(3, generator=generator) < 0.3]
            lights = random_light_directions(cameras, generator=generator)
            images.append(shade_geometry(buffers, color.rgb, lights, modes, resolution=32))
            shapes += [shape_index] * 3
            colors += [color_index] * 3
    return torch.cat(images), torch.tensor(shapes), torch.tensor(colors)


def test_ground_truth_renders_classify_correctly(references, ground_truth):
    images, shapes, colors = ground_truth
    assert torch.equal(classify_color(images, references), colors)
    assert torch.equal(classify_shape(images, references), shapes)


def test_shape_scores_prefer_the_right_shape_by_a_margin(references, ground_truth):
    images, shapes, _ = ground_truth
    scores = shape_scores(images, references)
    own = scores.gather(1, shapes[:, None])[:, 0]
    best_other = scores.scatter(1, shapes[:, None], -1.0).amax(dim=1)
    assert bool((own > 0.8).all()) and bool((own > best_other).all())


def test_empty_image_is_no_color_and_no_shape(references):
    white = torch.ones(2, 3, 32, 32)
    assert classify_color(white, references).tolist() == [-1, -1]
    assert classify_shape(white, references).tolist() == [-1, -1]
    with pytest.raises(ValueError, match="like the references"):
        shape_scores(torch.ones(1, 3, 16, 16), references)


def test_report_and_model_card(tmp_path, ground_truth):
    images, shapes, colors = ground_truth
    objects = toy64()
    results = [{"prompt": obj.prompt, "color": obj.color.name, "shape": obj.shape.name,
                "predicted_color": obj.color.name, "predicted_shape": obj.shape.name if i else "cube",
                "color_ok": True, "shape_ok": i > 0} for i, obj in enumerate(objects)]
    check = {"path": str(tmp_path), "guidance_scale": 5.0, "num_inference_steps": 50, "eta": 1.0, "seed": 0,
             "view": "front",
             "results": results, "color_accuracy": 1.0, "shape_accuracy": 63 / 64,
             "samples": images[::3][:64]}
    table = format_check(check)
    assert "a red sphere" in table and "cube X" in table and "shape accuracy 0.984" in table
    (tmp_path / "README.md").write_text("# card\n\ntraining notes\n\n## Check\n\nNot run yet.\n")
    record_check(tmp_path, check)
    record_check(tmp_path, check)  # replaces the section rather than appending another
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("# card\n\ntraining notes\n") and card.count(CHECK_HEADING) == 1
    assert "shape accuracy: **0.984**" in card and "a red sphere -> red cube" in card
    assert (tmp_path / "samples.png").is_file()


def _check_config(*overrides: str):
    with initialize_config_dir(str(CONF_DIR / "prior"), version_base="1.3"):
        return OmegaConf.to_object(compose("prior_check", overrides=list(overrides)))


def test_command_config_is_typed_and_reaches_check_prior(monkeypatch, tmp_path):
    """``python -m atom.toyworld.prior_check key=value``: each key reaches `check_prior`; a bad view stops at
    start naming the accepted ones; ``record=true`` writes the card."""
    cfg = _check_config(f"path={tmp_path}", "guidance_scale=2.5", "num_inference_steps=7", "eta=0.5", "seed=3",
                        "view=back", "record=true")
    assert isinstance(cfg, PriorCheckCommandConfig) and cfg.view is PriorView.back
    calls = []

    def fake_check(path, guidance_scale, seed, num_inference_steps, view, eta):
        calls.append((path, guidance_scale, seed, num_inference_steps, view, eta))
        results = [{"prompt": obj.prompt, "predicted_color": obj.color.name, "predicted_shape": obj.shape.name,
                    "color_ok": True, "shape_ok": True} for obj in toy64()]
        return {"path": path, "guidance_scale": guidance_scale, "num_inference_steps": num_inference_steps,
                "eta": eta, "seed": seed, "view": view, "results": results, "color_accuracy": 1.0,
                "shape_accuracy": 1.0, "samples": torch.ones(64, 3, 8, 8)}

    monkeypatch.setattr(prior_check, "check_prior", fake_check)
    prior_check.run_check(cfg)
    assert calls == [(str(tmp_path), 2.5, 3, 7, "back", 0.5)]
    card = (tmp_path / "README.md").read_text()
    assert "prior_check guidance_scale=2.5 num_inference_steps=7 eta=0.5 seed=3 view=back" in card
    with pytest.raises(Exception) as info:
        _check_config("view=top")
    assert "Invalid value 'top', expected one of [front, side, back, overhead, front-right" in str(info.value.__cause__)


def test_train_prior_config_composes_with_the_shared_check_settings():
    register_configs()  # the ${atom_asset:...} resolver
    with initialize_config_dir(str(CONF_DIR / "prior"), version_base="1.3"):
        cfg = OmegaConf.to_object(compose("train_prior", overrides=["check.view=side"]))
    assert cfg.check.view is PriorView.side and cfg.model.prediction_type is PredictionType.v_prediction


def test_yaw_classes_need_sectors_narrower_than_the_cubes_period():
    assert yaw_classes(DREAMFUSION4) is None  # "side" holds both 90 (face-on) and 45 (corner-on)
    classes = yaw_classes(SECTORS8)
    assert [label for label, face in classes.items() if face] == ["front", "right", "back", "left"]
    assert [label for label, face in classes.items() if not face] == [
        "front-right", "back-right", "back-left", "front-left"]


def test_yaw_classifier_reads_ground_truth_cubes():
    """Cube renders within 12 degrees of face-on (azimuth near 0 or 90) and of corner-on (near 45 or -135)
    from random elevations and distances are read as such; the cube's references say nothing of color."""
    references = build_yaw_references(resolution=32, mesh_resolution=MESH, elevations=(0.0, 15.0, 30.0),
                                      distances=(2.6, 2.7, 2.8))
    generator = torch.Generator().manual_seed(1)
    cube = [shape.name for shape in SHAPES].index("cube")
    images, face_on = [], []
    for centre in (0.0, 90.0, 45.0, -135.0):
        cameras = sample_cameras(8, elevation_range=(0.0, 30.0), azimuth_range=(centre - 12.0, centre + 12.0),
                                 distance_range=(2.6, 2.8), fov_range=(41.5, 43.5), generator=generator)
        buffers = render_geometry(cube, cameras, resolution=64, mesh_resolution=MESH)
        lights = random_light_directions(cameras, generator=generator)
        images.append(shade_geometry(buffers, COLORS[len(images)].rgb, lights, ["lambertian"] * 8, resolution=32))
        face_on += [centre % 90.0 == 0.0] * 8
    predicted = classify_yaw(torch.cat(images), references)
    assert (predicted == torch.tensor(face_on)).float().mean() >= 0.9


def tiny_prior_unet(camera: bool):
    torch.manual_seed(0)
    return build_prior_unet(resolution=32, block_out_channels=(16, 32), attention_head_dim=8, camera=camera)


def test_yaw_check_skips_a_prior_whose_views_cannot_express_yaw(tmp_path):
    save_view_scheme(tmp_path, DREAMFUSION4)
    scheme = prior_check.prior_view_scheme(tmp_path)
    assert check_yaw(str(tmp_path), tiny_prior_unet(camera=False), None, scheme, 1.1, 0, 2, 0.0) is None


def test_view_camera_is_the_middle_of_the_view():
    assert view_camera(DREAMFUSION4, "front") == (0.0, CHECK_ELEVATION)
    assert view_camera(DREAMFUSION4, "side") == (90.0, CHECK_ELEVATION)
    assert view_camera(DREAMFUSION4, "back") == (180.0, CHECK_ELEVATION)
    assert view_camera(SECTORS8, "front-right") == (45.0, CHECK_ELEVATION)
    assert view_camera(DREAMFUSION4, "overhead")[1] > 60.0
    with pytest.raises(ValueError, match="view must be one of"):
        view_camera(DREAMFUSION4, "front-right")


def test_yaw_check_hands_a_camera_conditioned_prior_its_probe_cameras(monkeypatch):
    """A stand-in prior that draws the true cube at the camera its features say (azimuth = atan2(sin, cos))
    scores the ground truth's yaw accuracy; one that gets no camera, or a wrong one, would not."""
    references = build_yaw_references(resolution=32, mesh_resolution=MESH, elevations=(0.0, 15.0, 30.0),
                                      distances=(2.6, 2.7, 2.8))
    cube = [shape.name for shape in SHAPES].index("cube")
    seen = {}

    def cube_at_the_camera(unet, scheduler, cond, uncond, guidance_scale, num_inference_steps, eta, generator,
                           camera_features=None):
        seen["features"], seen["prompts"] = camera_features, cond.shape[0]
        azimuth = torch.rad2deg(torch.atan2(camera_features[:, 0], camera_features[:, 1]))
        elevation = torch.rad2deg(torch.atan2(camera_features[:, 6], camera_features[:, 7]))
        cameras = look_at(elevation, azimuth, torch.full_like(azimuth, 2.7), 42.5)
        buffers = render_geometry(cube, cameras, resolution=64, mesh_resolution=MESH)
        lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
        return shade_geometry(buffers, (0.8, 0.1, 0.1), lights, ["lambertian"] * len(cameras), resolution=32)

    monkeypatch.setattr(prior_check, "sample_prior", cube_at_the_camera)
    yaw = check_yaw("stand-in", tiny_prior_unet(camera=True), None, DREAMFUSION4, 1.1, 0, 2, 0.0,
                    yaw_references=references, truth_views=8)
    probes = torch.tensor([azimuth for _, azimuth in YAW_PROBES]).repeat_interleave(8)
    torch.testing.assert_close(seen["features"], camera_features(probes, torch.full_like(probes, CHECK_ELEVATION)))
    assert seen["prompts"] == 64 and yaw["camera"] and yaw["labels"][:3] == ["front", "front-right", "right"]
    assert yaw["accuracy"] >= 0.9
