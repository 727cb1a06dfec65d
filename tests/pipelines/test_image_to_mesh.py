"""``ImageToMeshPipeline`` (API), ``run_image_to_mesh`` and ``python -m atom.image_to_mesh`` (CLI) on tiny
random-weight stage models built offline (``atom.testing.tiny_image_to_mesh``).

The models are untrained: the shapes of what comes out, the files, the errors and the stage plumbing are
tested here, not the quality of the views or the mesh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from atom.config import ImageToMeshConfig, MeshFormat, PreviewConfig
from atom.model import CheckpointError
from atom.model.multiview_diffusion import MultiViewDiffusionModel
from atom.pipelines import (
    ImageInputError,
    ImageToMeshError,
    ImageToMeshPipeline,
    InferenceError,
    StageError,
    read_views,
)
from atom.pipelines.image_to_mesh_run import run_image_to_mesh
from atom.testing.tiny_image_to_mesh import tiny_image_to_mesh_models, toy_picture
from atom.testing.tiny_multiview import build_tiny_multiview, tiny_multiview_model
from atom.testing.tiny_reconstruction import TINY_RECONSTRUCTION, tiny_reconstruction_model

TILE = TINY_RECONSTRUCTION["tile_size"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("image_to_mesh_assets")
    return {"models": tiny_image_to_mesh_models(root / "models"),
            "picture": toy_picture(root / "cube.png", canvas=(40, 56), offset=(4, 20)),
            "cut_out": toy_picture(root / "cube_rgba.png", rgba=True)}


@pytest.fixture(scope="module")
def pipe(assets) -> ImageToMeshPipeline:
    return ImageToMeshPipeline.from_pretrained(assets["models"])


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_pipeline_makes_views_ccms_and_a_colored_mesh_reproducibly(pipe, assets):
    out = pipe(assets["picture"], generator=_generator())
    assert out.images.shape == (1, 3, pipe.input_size, pipe.input_size)
    assert out.views.shape == out.ccms.shape == (1, 6, 3, TILE, TILE)
    assert 0.0 <= float(out.views.min()) and float(out.ccms.max()) <= 1.0
    assert len(out.meshes) == 1 and out.meshes[0].num_faces > 0 and out.meshes[0].vertex_colors is not None
    assert set(out.seconds) == {"views", "ccms", "reconstruction"}
    again = pipe(assets["picture"], generator=_generator())
    torch.testing.assert_close(again.views, out.views, rtol=0, atol=0)
    torch.testing.assert_close(again.meshes[0].vertices, out.meshes[0].vertices, rtol=0, atol=0)
    other = pipe(assets["picture"], generator=_generator(1))
    assert not torch.equal(other.views, out.views)


def test_several_samples_per_picture_average_their_triplanes(pipe, assets):
    prepared = pipe.prepare(assets["picture"]).image
    images = torch.stack([prepared, prepared.flip(-1)])
    out = pipe(images, generator=_generator(), num_samples=3)
    assert out.num_samples == 3 and len(out.meshes) == 2
    assert out.views.shape == out.ccms.shape == (6, 6, 3, TILE, TILE)
    assert out.triplanes.shape[0] == 2
    # the same noise, drawn step by step: three samples of each picture, consecutive, then one triplane each
    generator = _generator()
    views = pipe.generate_views(images, generator=generator, num_samples=3)
    ccms = pipe.generate_ccms(views, generator=generator)
    torch.testing.assert_close(views, out.views, rtol=0, atol=0)
    assert not torch.equal(views[0], views[1]), "the samples of one picture must differ"
    every = pipe.reconstruction.triplanes(views, ccms, generator)
    torch.testing.assert_close(out.triplanes[1], every[3:].mean(dim=0))
    torch.testing.assert_close(out.meshes[1].vertices, pipe.reconstruction.meshes(every[3:].mean(0, keepdim=True))[0]
                               .vertices)
    one = pipe(images[:1], generator=_generator(), num_samples=1)
    assert one.views.shape[0] == 1 and not torch.equal(one.triplanes[0], out.triplanes[0])


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_a_bad_number_of_samples_is_named(pipe, assets, bad):
    with pytest.raises(ValueError, match=rf"num_samples must be an integer >= 1.*got {bad!r}"):
        pipe(pipe.prepare(assets["picture"]).image, num_samples=bad)


def test_samples_that_do_not_group_by_picture_fail_in_reconstruction(pipe):
    views = torch.rand(3, 6, 3, TILE, TILE)
    with pytest.raises(StageError, match="stage 3.*hold 3 samples, not a multiple of num_samples=2"):
        pipe.reconstruct(views, views, num_samples=2)


def test_the_folder_carries_the_default_number_of_samples(pipe, assets, tmp_path):
    pipe.num_samples = 2
    try:
        saved = pipe.save_pretrained(tmp_path / "saved")
    finally:
        pipe.num_samples = 1
    index = json.loads((saved / "image_to_mesh.json").read_text())
    assert index == {"views": "views", "ccms": "ccms", "reconstruction": "reconstruction", "num_samples": 2}
    reopened = ImageToMeshPipeline.from_pretrained(saved)
    assert reopened.num_samples == 2 and "2 sample(s) per picture" in repr(reopened)
    assert reopened(assets["picture"], generator=_generator()).views.shape[0] == 2
    assert ImageToMeshPipeline.from_pretrained(saved, num_samples=1).num_samples == 1
    assert ImageToMeshPipeline.from_pretrained(assets["models"]).num_samples == 1  # sub-folders only: CRM's one
    (saved / "image_to_mesh.json").write_text(json.dumps({**index, "num_samples": 0}))
    with pytest.raises(ImageToMeshError, match="num_samples must be an integer >= 1.*got 0"):
        ImageToMeshPipeline.from_pretrained(saved)


def test_a_tensor_input_is_stage_one_input_as_is(pipe, assets):
    prepared = pipe.prepare(assets["picture"]).image
    from_path = pipe(assets["picture"], generator=_generator())
    from_tensor = pipe(prepared, generator=_generator())
    torch.testing.assert_close(from_tensor.views, from_path.views, rtol=0, atol=0)
    with pytest.raises(ValueError, match=rf"\[3, {pipe.input_size}, {pipe.input_size}\] or \[B, 3, "):
        pipe(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"values must be in \[0, 1\]"):
        pipe(prepared * 2)


def test_save_pretrained_round_trips_and_a_json_index_or_explicit_paths_open_it(pipe, assets, tmp_path):
    saved = pipe.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in saved.iterdir()) == ["ccms", "image_to_mesh.json", "reconstruction", "views"]
    reference = pipe(assets["picture"], generator=_generator()).views
    reopened = ImageToMeshPipeline.from_pretrained(saved)
    torch.testing.assert_close(reopened(assets["picture"], generator=_generator()).views, reference, rtol=0, atol=0)
    index = tmp_path / "index"
    index.mkdir()
    (index / "image_to_mesh.json").write_text(json.dumps({s: f"../saved/{s}" for s in ("views", "ccms",
                                                                                        "reconstruction")}))
    assert ImageToMeshPipeline.from_pretrained(index).paths["ccms"] == str((saved / "ccms").resolve())
    other_views = tiny_multiview_model(tmp_path / "other_views", "views", seed=7)
    swapped = ImageToMeshPipeline.from_pretrained(saved, views=other_views)
    assert swapped.paths["views"] == str(other_views)
    assert not torch.equal(swapped(assets["picture"], generator=_generator()).views, reference)


def test_stage_models_that_do_not_fit_together_are_named(tmp_path):
    views, ccms = build_tiny_multiview("views"), build_tiny_multiview("ccms")
    reconstruction = tiny_reconstruction_model(tmp_path / "reconstruction")
    from atom.model import ReconstructionModel

    model = ReconstructionModel.from_pretrained(reconstruction)
    with pytest.raises(ImageToMeshError, match="views_model is a multi-view diffusion model of stage 'ccms'.*swapped"):
        ImageToMeshPipeline(ccms, views, model)
    with pytest.raises(ImageToMeshError, match="views_model must be a MultiViewDiffusionModel"):
        ImageToMeshPipeline(model, ccms, model)
    small = build_tiny_multiview("ccms", tile_size=16)
    with pytest.raises(ImageToMeshError, match=r"disagree on the tile size.*'ccms': 16"):
        ImageToMeshPipeline(views, small, model)


def test_missing_or_wrong_model_folders_are_named(assets, tmp_path):
    with pytest.raises(ImageToMeshError, match="is not a folder"):
        ImageToMeshPipeline.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageToMeshError, match="model folders not found.*views.*views/, ccms/, reconstruction/"):
        ImageToMeshPipeline.from_pretrained(tmp_path / "empty")
    with pytest.raises(ImageToMeshError, match="no model folder for views, ccms"):
        ImageToMeshPipeline.from_pretrained(reconstruction=assets["models"] / "reconstruction")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "image_to_mesh.json").write_text('{"views": "v"}')
    with pytest.raises(ImageToMeshError, match="must be a JSON object naming the folder of each"):
        ImageToMeshPipeline.from_pretrained(tmp_path / "bad")
    with pytest.raises(CheckpointError, match=r"stage 2 \(six views -> six CCMs\).*is not a loadable multi-view"):
        ImageToMeshPipeline.from_pretrained(assets["models"], ccms=assets["models"] / "reconstruction")


# ------------------------------------------------------------------------------------------------ the run
def _config(assets, out_dir: Path, **changes) -> ImageToMeshConfig:
    values = {"image": str(assets["picture"]), "models": str(assets["models"]), "out_dir": str(out_dir),
              "device": "cpu", "progress": False, "preview": PreviewConfig(views=2, resolution=24)}
    values.update(changes)
    cfg = ImageToMeshConfig(**values)
    cfg.export.texture_resolution = 64
    return cfg


def test_a_failing_stage_is_named_and_leaves_the_earlier_outputs(assets, tmp_path, monkeypatch):
    sample = MultiViewDiffusionModel.sample

    def ccms_fail(self, condition, **kwargs):
        if self.config.stage == "ccms":
            raise RuntimeError("out of memory (simulated)")
        return sample(self, condition, **kwargs)

    monkeypatch.setattr(MultiViewDiffusionModel, "sample", ccms_fail)
    out = tmp_path / "out"
    with pytest.raises(StageError, match=r"stage 2 \(six views -> six CCMs\) failed: RuntimeError: out of memory"):
        run_image_to_mesh(_config(assets, out))
    assert sorted(p.name for p in out.iterdir()) == ["input.png", "summary.json", "views.png"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["failed_stage"] == "ccms"
    assert summary["timing"]["views_s"] > 0 and "ccms_s" in summary["timing"]
    assert Image.open(out / "views.png").size == (6 * TILE, TILE)


def test_both_or_neither_of_image_and_prompt_is_an_error(assets, tmp_path):
    with pytest.raises(InferenceError, match="exactly one of image=<picture file> and prompt=<text>, got both"):
        run_image_to_mesh(_config(assets, tmp_path / "a", prompt="a red cube"))
    with pytest.raises(InferenceError, match="got neither"):
        run_image_to_mesh(_config(assets, tmp_path / "b", image=None))
    with pytest.raises(InferenceError, match="foreground_ratio must be in"):
        run_image_to_mesh(_config(assets, tmp_path / "c", foreground_ratio=0.0))
    with pytest.raises(InferenceError, match=r"num_samples must be >= 1 or null \(the models folder's\), got 0"):
        run_image_to_mesh(_config(assets, tmp_path / "d", num_samples=0))
    assert list(tmp_path.iterdir()) == []


def _image_to_mesh(*arguments: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "atom.image_to_mesh", *arguments], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_writes_a_uv_textured_glb_the_stages_previews_and_timings(assets, tmp_path):
    result = _image_to_mesh(f"image={assets['cut_out']}", f"models={assets['models']}", "out_dir=out", "device=cpu",
                            "export.texture_resolution=64", "preview.views=2", "preview.resolution=24", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    record = summary["objects"][0]
    assert summary["status"] == "ok" and record["status"] == "ok" and record["mesh"] == "mesh.glb"
    assert summary["preprocess"]["cut_out"] == "alpha" and summary["export"]["texture"] == "uv"
    stages = ("read_s", "load_s", "preprocess_s", "views_s", "ccms_s", "reconstruction_s", "export_s")
    assert all(summary["timing"][key] >= 0.0 for key in stages)
    per_image = sum(summary["timing"][k] for k in stages[2:])
    assert summary["timing"]["per_image_s"] == pytest.approx(per_image, abs=0.01)
    assert f"end to end: {summary['timing']['per_image_s']:.2f} s per image" in result.stdout
    loaded = trimesh.load(out / "mesh.glb", force="mesh", process=False)
    assert isinstance(loaded.visual, trimesh.visual.TextureVisuals)
    assert loaded.visual.material.baseColorTexture.size == (64, 64)
    assert loaded.visual.uv.shape == (len(loaded.vertices), 2) and len(loaded.faces) == record["faces"]
    # the stages' strips are what atom.reconstruct reads: six tiles in CRM order
    assert read_views(out / "views.png").shape == read_views(out / "ccms.png").shape == (6, 3, TILE, TILE)
    input_size = summary["input_size"]
    assert Image.open(out / "input.png").size == (input_size, input_size)
    for key in ("preview", "turntable", "input_preview"):
        assert (out / record[key]).is_file()
    assert "mesh.glb" in (out / "index.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "nothing but out_dir may be written"


def test_cli_bad_picture_exits_with_status_2_naming_it(assets, tmp_path, monkeypatch, capsys):
    from atom.image_to_mesh import main  # in-process: the same Hydra entry point without a second interpreter

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["atom.image_to_mesh", f"image={tmp_path / 'missing.png'}",
                                      f"models={assets['models']}", "device=cpu"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "atom.image_to_mesh: error:" in stderr and "missing.png" in stderr and "no such file" in stderr
    assert "Traceback" not in stderr and list(tmp_path.iterdir()) == []


def test_obj_export_is_uv_textured_and_several_samples_keep_the_first_as_the_strips(assets, tmp_path):
    cfg = _config(assets, tmp_path / "out", image=str(assets["cut_out"]), num_samples=2)
    cfg.export.format = MeshFormat.obj
    summary = run_image_to_mesh(cfg)
    assert summary["objects"][0]["mesh"] == "mesh.obj" and summary["diffusion"]["num_samples"] == 2
    assert read_views(tmp_path / "out" / "views.png").shape == (6, 3, TILE, TILE)
    mesh = trimesh.load(tmp_path / "out" / "mesh.obj", force="mesh", process=False)
    assert isinstance(mesh.visual, trimesh.visual.TextureVisuals) and mesh.visual.uv.shape[0] == len(mesh.vertices)
    assert np.isfinite(mesh.vertices).all() and len(mesh.faces) == summary["objects"][0]["faces"]


def test_a_bad_picture_fails_before_the_models_load_and_writes_nothing(assets, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(blank)
    with pytest.raises(ImageInputError, match=f"{blank}.*no object can be cut out"):
        run_image_to_mesh(_config(assets, tmp_path / "out", image=str(blank), models=str(tmp_path / "nowhere")))
    assert not (tmp_path / "out").exists()
