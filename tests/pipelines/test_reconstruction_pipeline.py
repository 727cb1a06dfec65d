"""Reconstruction inference: ``ReconstructionPipeline`` (API), ``run_reconstruction`` and ``python -m
atom.reconstruct`` (CLI) on a tiny random-weight model and a toy object's rendered views + CCMs.

The model is untrained: geometry quality is not tested here, only the plumbing (layouts, files, errors)."""

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

from atom.config import ExportConfig, MeshFormat, PreviewConfig, ReconstructConfig, TextureMode
from atom.model import CheckpointError, TextToMeshConfig, TextToMeshModel
from atom.pipelines import InferenceError, ReconstructionPipeline, ViewInputError, read_views, run_reconstruction
from atom.render.ccm import CRM_BACKGROUND
from atom.render.crm_views import CRM_VIEW_NAMES
from atom.testing.tiny_reconstruction import (
    TINY_RECONSTRUCTION,
    tiny_reconstruction_model,
    toy_object_views,
    write_strip,
    write_view_folder,
)

TILE = TINY_RECONSTRUCTION["tile_size"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("reconstruction_assets")
    views = toy_object_views(TILE)
    return {
        "model": tiny_reconstruction_model(root / "model"),
        "rgb": views.rgb, "ccm": views.ccm,
        "views_strip": write_strip(views.rgb, root / "views.png"),
        "ccm_strip": write_strip(views.ccm, root / "ccm.png"),
        "views_folder": write_view_folder(views.rgb, root / "views"),
        "ccm_folder": write_view_folder(views.ccm, root / "ccm"),
    }


@pytest.fixture(scope="module")
def pipe(assets) -> ReconstructionPipeline:
    return ReconstructionPipeline.from_pretrained(assets["model"])


def _config(assets, out_dir: Path, **changes) -> ReconstructConfig:
    values = {"ckpt": str(assets["model"]), "views": str(assets["views_strip"]), "ccm": str(assets["ccm_strip"]),
              "out_dir": str(out_dir), "progress": False, "preview": PreviewConfig(views=2, resolution=24),
              "export": ExportConfig(texture=TextureMode.uv, texture_resolution=64)}
    return ReconstructConfig(**{**values, **changes})


# ------------------------------------------------------------------------------------------------------ API
def test_pipeline_gives_one_colored_mesh_per_object_reproducibly(pipe, assets):
    rgb, ccm = assets["rgb"], assets["ccm"]
    meshes = pipe(rgb, ccm, generator=torch.Generator().manual_seed(3))
    assert len(meshes) == 1 and meshes[0].num_faces > 0
    mesh = meshes[0]
    assert mesh.vertex_colors.shape == mesh.vertices.shape
    assert float(mesh.vertex_colors.min()) >= 0.0 and float(mesh.vertex_colors.max()) <= 1.0
    assert float(mesh.vertices.abs().max()) <= 1.0
    again = pipe(rgb, ccm, generator=torch.Generator().manual_seed(3))[0]
    assert torch.equal(again.vertices, mesh.vertices) and torch.equal(again.faces, mesh.faces)
    batch = pipe(torch.stack([rgb, rgb.flip(-1)]), torch.stack([ccm, ccm.flip(-1)]))
    assert len(batch) == 2 and all(m.num_faces > 0 for m in batch)


def test_a_training_run_directory_opens_at_its_newest_checkpoint(pipe, assets, tmp_path):
    from atom.model import ReconstructionModel
    from atom.training.checkpoint import TrainingState, save_checkpoint

    model = ReconstructionModel.from_pretrained(assets["model"])
    state = TrainingState(step=1, optimizer={}, scheduler={}, rng={}, counters={})
    save_checkpoint(tmp_path / "run", 1, model, {"experiment": "crm_toy"}, state)
    with torch.no_grad():
        model.color_head.net[-1].bias.add_(0.25)  # the newer checkpoint: another color head
    newest = save_checkpoint(tmp_path / "run", 2, model, {"experiment": "crm_toy"}, state)
    opened = ReconstructionPipeline.from_pretrained(tmp_path / "run")
    triplane = opened.triplanes(assets["rgb"], assets["ccm"], torch.Generator().manual_seed(0))[0]
    points = torch.rand(50, 3) * 2 - 1
    expected = ReconstructionPipeline.from_pretrained(newest).colors(triplane, points)
    torch.testing.assert_close(opened.colors(triplane, points), expected)
    assert not torch.allclose(pipe.colors(triplane, points), expected)


def test_color_field_is_the_color_head_clamped(pipe, assets):
    triplane = pipe.triplanes(assets["rgb"], assets["ccm"], torch.Generator().manual_seed(0))[0]
    points = torch.rand(100, 3) * 2 - 1
    expected = pipe.model.color_head(pipe.model.features(triplane[None], points[None]))[0].clamp(0, 1)
    torch.testing.assert_close(pipe.color_field(triplane)(points), expected)
    assert pipe.colors(triplane, points[:0]).shape == (0, 3)


def test_read_views_round_trips_both_layouts_and_strip_orders(assets, tmp_path):
    strip, folder = read_views(assets["views_strip"]), read_views(assets["views_folder"])
    assert strip.shape == (6, 3, TILE, TILE) and strip.dtype == torch.float32
    assert torch.equal(strip, folder)
    torch.testing.assert_close(strip, assets["rgb"], atol=0.5 / 255 + 1e-6, rtol=0)  # 8-bit rounding only
    order = ["top", "front", "right", "back", "left", "bottom"]
    reordered = write_strip(assets["rgb"], tmp_path / "reordered.png", order)
    assert torch.equal(read_views(reordered, order), strip)
    assert not torch.equal(read_views(reordered), strip), "the default order must not fit a reordered strip"


def test_rgba_views_are_composited_onto_crm_grey(assets, tmp_path):
    folder = tmp_path / "rgba"
    folder.mkdir()
    for name in CRM_VIEW_NAMES:
        pixels = np.zeros((TILE, TILE, 4), dtype=np.uint8)
        pixels[..., 0] = 255
        pixels[: TILE // 2, :, 3] = 255  # top half opaque red, bottom half transparent
        Image.fromarray(pixels, "RGBA").save(folder / f"{name}.png")
    views = read_views(folder)
    torch.testing.assert_close(views[:, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]).expand(6, 3))
    torch.testing.assert_close(views[:, :, -1, 0], torch.full((6, 3), CRM_BACKGROUND))


# ------------------------------------------------------------------------------------------ run and CLI
def test_strip_and_folder_inputs_give_identical_meshes(assets, tmp_path):
    vertex_ply = {"export": ExportConfig(format=MeshFormat.ply, texture=TextureMode.vertex)}
    run_reconstruction(_config(assets, tmp_path / "strip", **vertex_ply))
    run_reconstruction(_config(assets, tmp_path / "folder", views=str(assets["views_folder"]),
                               ccm=str(assets["ccm_folder"]), **vertex_ply))
    a = trimesh.load(tmp_path / "strip" / "mesh.ply", process=False)
    b = trimesh.load(tmp_path / "folder" / "mesh.ply", process=False)
    assert len(a.faces) > 0
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)


def test_obj_export_is_uv_textured(assets, tmp_path):
    summary = run_reconstruction(_config(assets, tmp_path / "out", export=ExportConfig(
        format=MeshFormat.obj, texture=TextureMode.uv, texture_resolution=64)))
    out = tmp_path / "out"
    assert summary["objects"][0]["mesh"] == "mesh.obj"
    assert (out / "mesh.mtl").is_file() and (out / "mesh.png").is_file()
    loaded = trimesh.load(out / "mesh.obj", process=False)
    assert isinstance(loaded.visual, trimesh.visual.TextureVisuals)
    assert loaded.visual.uv.shape == (len(loaded.vertices), 2) and loaded.visual.material.image.size == (64, 64)


def _reconstruct(*arguments: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "atom.reconstruct", *arguments], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_writes_a_uv_textured_glb_previews_and_timings(assets, tmp_path):
    result = _reconstruct(f"ckpt={assets['model']}", f"views={assets['views_strip']}", f"ccm={assets['ccm_strip']}",
                          "out_dir=out", "export.texture_resolution=64", "preview.views=2",
                          "preview.resolution=24", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    record = summary["objects"][0]
    assert record["status"] == "ok" and record["mesh"] == "mesh.glb"
    assert summary["export"]["texture"] == "uv" and summary["grid_resolution"] == TINY_RECONSTRUCTION["grid_resolution"]
    for key in ("read_s", "load_s", "network_s", "extract_s", "write_s", "total_s"):
        assert summary["timing"][key] >= 0.0
    loaded = trimesh.load(out / "mesh.glb", force="mesh", process=False)
    assert isinstance(loaded.visual, trimesh.visual.TextureVisuals)
    assert loaded.visual.uv.shape == (len(loaded.vertices), 2)
    assert loaded.visual.material.baseColorTexture.size == (64, 64)
    for key in ("preview", "turntable", "input_preview"):
        assert (out / record[key]).is_file()
    assert Image.open(out / record["input_preview"]).size == (6 * TILE, 2 * TILE)
    assert (out / "index.html").is_file() and "mesh.glb" in (out / "index.html").read_text()
    assert "mesh.glb" in result.stdout and "network" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "nothing but out_dir may be written"


# ------------------------------------------------------------------------------------------------ bad input
def _fails(error: type[Exception], message: str, run) -> None:
    with pytest.raises(error) as info:
        run()
    assert message in str(info.value), str(info.value)


def test_bad_view_tensors_name_the_expected_form(pipe, assets):
    rgb, ccm = assets["rgb"], assets["ccm"]
    _fails(ViewInputError, f"[6, 3, {TILE}, {TILE}] or [B, 6, 3, {TILE}, {TILE}]", lambda: pipe(rgb[:5], ccm[:5]))
    _fails(ViewInputError, "the model's tile size is 32", lambda: pipe(rgb[..., :16, :16], ccm[..., :16, :16]))
    _fails(ViewInputError, "ccm values must be in [0, 1]", lambda: pipe(rgb, ccm * 1.5))
    _fails(ViewInputError, "ccm values must be in [0, 1]", lambda: pipe(rgb, ccm - 0.6))
    _fails(ViewInputError, "views must be a float tensor", lambda: pipe((rgb * 255).to(torch.uint8), ccm))
    _fails(ViewInputError, "same number of objects", lambda: pipe(torch.stack([rgb, rgb]), ccm))


def test_bad_files_fail_before_anything_is_written(assets, tmp_path):
    out = tmp_path / "out"
    bad = tmp_path / "bad"
    bad.mkdir()
    strip = np.asarray(Image.open(assets["views_strip"]))
    Image.fromarray(strip[:, : 5 * TILE]).save(bad / "five.png")
    Image.fromarray(strip[::2, ::2]).save(bad / "small.png")
    (bad / "text.png").write_text("not an image")
    Image.fromarray(strip[..., 0].astype(np.uint16) * 257).save(bad / "sixteen_bit.png")
    transparent = bad / "transparent"
    write_view_folder(assets["rgb"], transparent)
    Image.fromarray(np.zeros((TILE, TILE, 4), dtype=np.uint8), "RGBA").save(transparent / "left.png")
    missing = bad / "missing"
    write_view_folder(assets["rgb"], missing)
    (missing / "top.png").unlink()
    oblong = bad / "oblong"
    write_view_folder(assets["rgb"], oblong)
    Image.fromarray(np.zeros((TILE, TILE + 8, 3), dtype=np.uint8)).save(oblong / "back.png")
    generator = bad / "generator"
    text_model = TextToMeshConfig(text_dim=8, query_resolution=2, hidden_dim=8, num_blocks=1, num_heads=2,
                                 triplane_resolution=4, triplane_channels=4, head_hidden=8)
    TextToMeshModel(text_model).save_pretrained(generator)

    def run(**changes):
        return lambda: run_reconstruction(_config(assets, out, **changes))

    _fails(ViewInputError, "a strip must be S x 6S", run(views=str(bad / "five.png")))
    _fails(ViewInputError, "lacks top.png", run(views=str(missing)))
    _fails(ViewInputError, "must be square and of one size", run(views=str(oblong)))
    _fails(ViewInputError, "model takes 32 x 32 (a strip of 32 x 192); resize them or pass resize=true",
           run(ccm=str(bad / "small.png")))
    _fails(ViewInputError, "cannot read image", run(views=str(bad / "text.png")))
    _fails(ViewInputError, "fully transparent", run(views=str(transparent)))
    _fails(ViewInputError, "accepted: 8-bit grey, palette, RGB or RGBA", run(ccm=str(bad / "sixteen_bit.png")))
    _fails(ViewInputError, "does not exist", run(views=str(bad / "nowhere.png")))
    _fails(ViewInputError, "strip_order must name each of the six views once",
           run(strip_order=["front", "left", "bottom", "back", "right", "front"]))
    _fails(CheckpointError, "is not a loadable reconstruction model", run(ckpt=str(generator)))
    _fails(CheckpointError, "does not exist", run(ckpt=str(bad / "no_model")))
    _fails(InferenceError, "export.texture=uv needs export.format=glb or obj",
           run(export=ExportConfig(format=MeshFormat.ply, texture=TextureMode.uv)))
    assert not out.exists(), "nothing may be written on bad input"
    summary = run_reconstruction(_config(assets, out, ccm=str(bad / "small.png"), views=str(bad / "small.png"),
                                         resize=True))
    assert summary["objects"][0]["status"] == "ok" and summary["inputs"]["resize"]


def test_cli_bad_input_exits_with_status_2_and_a_reason(assets, tmp_path, monkeypatch, capsys):
    from atom.reconstruct import main  # in-process: the same Hydra entry point without a second interpreter

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["atom.reconstruct", f"ckpt={assets['model']}",
                                      f"views={assets['views_strip']}", f"ccm={tmp_path / 'missing.png'}"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "atom.reconstruct: error:" in stderr and "missing.png" in stderr and "does not exist" in stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
