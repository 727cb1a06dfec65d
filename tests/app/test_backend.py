"""The app's work without Gradio: options checked before any work, example prompts, the image tab's check and
its service."""

from __future__ import annotations

import pytest

from atom.app.backend import MeshOptions, TextToMeshService, example_prompts
from atom.app.image_to_mesh import image_to_mesh_availability, open_image_to_mesh
from atom.testing.tiny_image_to_mesh import tiny_image_to_mesh_models, toy_picture


@pytest.fixture(scope="module")
def service(app_checkpoint, tmp_path_factory) -> TextToMeshService:
    return TextToMeshService.from_checkpoint(app_checkpoint, "cpu", tmp_path_factory.mktemp("app_backend"),
                                             max_grid_resolution=32, max_interpolation_meshes=5)


def test_example_prompts_are_the_runs_split(app_checkpoint, tmp_path):
    prompts = example_prompts(app_checkpoint)
    # atom.testing.tiny_training: prompts.prompts=[a red cube,a blue sphere,a green cone], test [a red sphere]
    assert prompts.train_prompts == ["a red cube", "a blue sphere", "a green cone"]
    assert prompts.test_prompts == ["a red sphere"]
    assert example_prompts(tmp_path) is None  # no train_config.yaml: no examples, no crash


@pytest.mark.parametrize(("options", "message"), [
    (MeshOptions(grid_resolution=4), r"grid resolution must be in \[8, 32\], got 4"),
    (MeshOptions(grid_resolution=64), r"grid resolution must be in \[8, 32\], got 64"),
    (MeshOptions(grid_resolution=8, min_component_fraction=1.0), r"must be in \[0, 1\), got 1.0"),
])
def test_bad_options_are_refused_before_any_work(service, options, message):
    with pytest.raises(ValueError, match=message):
        service.generate("a red cube", options)
    assert not (service.out_dir / "meshes").exists() or not any((service.out_dir / "meshes").iterdir())


def test_a_walk_longer_than_one_pass_allows_is_refused(service):
    with pytest.raises(ValueError, match=r"3 prompts x 4 steps make 7 meshes; at most 5"):
        service.interpolate(["a red cube", "a blue sphere", "a green cone"], 4, "linear", MeshOptions(8))
    with pytest.raises(ValueError, match="unknown interpolation mode 'cubic'"):
        service.interpolate(["a red cube", "a blue sphere"], 2, "cubic", MeshOptions(8))


def test_image_tab_is_hidden_with_a_reason_without_loadable_models(tmp_path):
    assert not image_to_mesh_availability(None).available
    assert "image_ckpt=" in image_to_mesh_availability(None).reason
    status = image_to_mesh_availability(str(tmp_path / "nowhere"))
    assert not status.available and "is not a folder" in status.reason
    status = open_image_to_mesh(str(tmp_path), "cpu", tmp_path / "out")  # a folder without the three models
    assert not status.available and status.service is None
    assert "did not load" in status.reason and "model folders not found" in status.reason


def test_image_service_writes_the_stages_then_the_mesh(tmp_path):
    models = tiny_image_to_mesh_models(tmp_path / "models")
    status = open_image_to_mesh(str(models), "cpu", tmp_path / "out", texture_resolution=32, max_grid_resolution=32)
    assert status.available and status.service is not None
    picture = toy_picture(tmp_path / "cube.png")
    step = status.service.generate_views(str(picture), seed=0, num_inference_steps=2)
    assert sorted(p.name for p in step.folder.iterdir()) == ["ccms.png", "input.png", "views.png"]
    result = status.service.reconstruct(step, MeshOptions(grid_resolution=16, uv_texture=True))
    assert result.mesh.faces > 0 and result.mesh.glb.is_file() and result.mesh.uv_glb.is_file()
    with pytest.raises(ValueError, match=r"grid resolution must be in \[8, 32\], got 64"):
        status.service.reconstruct(step, MeshOptions(grid_resolution=64))
    with pytest.raises(ValueError, match="diffusion steps must be >= 1"):
        status.service.generate_views(str(picture), seed=0, num_inference_steps=0)
