"""The prompt form of image to mesh: ``prompt=`` draws a picture with a text-to-image model, saves it, then runs
the image path. With the bundled toy prior (it draws toy objects on white, so the picture can be cut out) and
with a tiny random prior built offline (it draws noise: the run stops at preprocessing, naming the stage and
keeping the picture)."""

from __future__ import annotations

import json

import pytest
import torch

from atom.config import ImageToMeshConfig, PreviewConfig, TextToImageConfig, asset_path
from atom.pipelines import StageError
from atom.pipelines.image_to_mesh_run import PROMPT_IMAGE, run_image_to_mesh
from atom.prompts.views import DREAMFUSION4
from atom.testing.tiny_image_to_mesh import tiny_image_to_mesh_models
from atom.toyworld.prior import build_prior_scheduler, build_prior_unet, save_prior

STEPS = 10  # DDIM steps of the prior: enough for the bundled one to draw a cube on white


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_image_to_mesh_models(tmp_path_factory.mktemp("prompt_models") / "models")


def _config(models, out_dir, prior: str, **changes) -> ImageToMeshConfig:
    values = {"prompt": "a red cube", "models": str(models), "out_dir": str(out_dir), "device": "cpu",
              "progress": False, "preview": PreviewConfig(views=2, resolution=24),
              "text_to_image": TextToImageConfig(path=prior, num_inference_steps=STEPS), **changes}
    cfg = ImageToMeshConfig(**values)
    cfg.export.texture_resolution = 64
    return cfg


def test_prompt_draws_a_picture_saves_it_and_runs_the_image_path(models, tmp_path):
    out = tmp_path / "out"
    summary = run_image_to_mesh(_config(models, out, asset_path("toy_prior")))
    assert summary["status"] == "ok" and summary["objects"][0]["name"] == "a red cube"
    assert summary["text_to_image"]["caption"] == "a red cube, front view"
    assert summary["preprocess"]["cut_out"] == "background"
    assert max(abs(c - 1.0) for c in summary["preprocess"]["background"]) < 0.1, "the toy prior draws on white"
    assert (out / PROMPT_IMAGE).is_file() and (out / "mesh.glb").is_file()
    assert summary["timing"]["text_to_image_s"] > 0
    # the saved picture, run as image=, gives the same mesh: the prompt form is the image path
    again = run_image_to_mesh(_config(models, tmp_path / "again", asset_path("toy_prior"), prompt=None,
                                      image=str(out / PROMPT_IMAGE)))
    assert again["objects"][0]["faces"] == summary["objects"][0]["faces"]
    assert (tmp_path / "again" / "input.png").read_bytes() == (out / "input.png").read_bytes()


def test_a_picture_without_an_object_stops_at_preprocessing_and_keeps_it(models, tmp_path):
    torch.manual_seed(0)
    unet = build_prior_unet(resolution=32, block_out_channels=(16, 32), attention_head_dim=8)
    prior = save_prior(unet.eval(), build_prior_scheduler(), tmp_path / "tiny_prior", "# tiny random prior\n",
                       DREAMFUSION4, samples=None)
    out = tmp_path / "out"
    with pytest.raises(StageError, match=r"input preprocessing .* failed: ImageInputError: .*prompt_image.png"):
        run_image_to_mesh(_config(models, out, str(prior), text_to_image=TextToImageConfig(
            path=str(prior), num_inference_steps=2, view=None)))
    assert sorted(p.name for p in out.iterdir()) == [PROMPT_IMAGE, "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_stage"] == "preprocess" and summary["text_to_image"]["caption"] == "a red cube"



def test_a_camera_conditioned_prior_draws_from_the_middle_of_the_captions_view(tmp_path, monkeypatch):
    from atom.guidance import camera_features
    from atom.pipelines import image_to_mesh_run
    from atom.toyworld import prior as prior_module
    from atom.toyworld.prior_check import CHECK_ELEVATION

    torch.manual_seed(0)
    unet = build_prior_unet(resolution=32, block_out_channels=(16, 32), attention_head_dim=8, camera=True)
    prior = save_prior(unet.eval(), build_prior_scheduler(), tmp_path / "tiny_camera_prior", "# tiny camera prior\n",
                       DREAMFUSION4, samples=None)
    seen = []
    sample = prior_module.sample_prior
    monkeypatch.setattr(prior_module, "sample_prior",
                        lambda *args, **kwargs: seen.append(kwargs["camera_features"]) or sample(*args, **kwargs))
    cfg = TextToImageConfig(path=str(prior), num_inference_steps=2)  # view: front, DreamFusion's |azimuth| < 45
    images, captions = image_to_mesh_run.sample_prompt_images(cfg, ["a red cube", "a blue cone"],
                                                              torch.Generator().manual_seed(0), torch.device("cpu"))
    assert images.shape == (2, 3, 32, 32) and captions == ["a red cube, front view", "a blue cone, front view"]
    torch.testing.assert_close(seen[0], camera_features([0.0, 0.0], [CHECK_ELEVATION, CHECK_ELEVATION]))
