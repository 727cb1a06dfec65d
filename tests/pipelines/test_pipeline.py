"""``run_inference`` through Hydra's compose: files that plain trimesh reads back, previews, index page,
summary, interpolation, empty meshes and every bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

from atom.geometry import Mesh
from atom.geometry.postprocess import postprocess
from atom.infer import CONFIG_DIR, CONFIG_NAME
from atom.model import CheckpointError
from atom.pipelines import InferenceError, run_inference, summary_table

GRID = 12
FAST = ["grid_resolution=12", "preview.views=4", "preview.resolution=32", "progress=false", "device=cpu"]


def _config(checkpoint: Path, out_dir: Path, *overrides: str):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(CONFIG_NAME, overrides=[f"ckpt={checkpoint}", f"out_dir={out_dir}", *FAST, *overrides])
    return OmegaConf.to_object(cfg)


def _to_z_up(vertices: np.ndarray) -> torch.Tensor:
    """The documented file convention is +Y up: file (x, y, z) is world (x, -z, y)."""
    x, y, z = np.asarray(vertices, dtype=np.float64).T
    return torch.tensor(np.stack([x, -z, y], axis=1), dtype=torch.float32)


@pytest.mark.parametrize("file_format", ["glb", "obj", "ply"])
def test_meshes_read_back_with_plain_trimesh(pipeline, tiny_checkpoint, tmp_path, file_format):
    prompts = ["a red cube", "a blue sphere"]
    cfg = _config(tiny_checkpoint, tmp_path / "out", "prompts=[a red cube,a blue sphere]",
                  f"export.format={file_format}", "preview.enabled=false")
    summary = run_inference(cfg)
    expected = [postprocess(m) for m in pipeline(prompts, grid_resolution=GRID)]
    for record, mesh in zip(summary["prompts"], expected, strict=True):
        assert record["status"] == "ok" and record["mesh"].endswith(f".{file_format}")
        loaded = trimesh.load(tmp_path / "out" / record["mesh"], process=False, force="mesh")
        assert len(loaded.faces) == mesh.num_faces == record["faces"]
        vertices = _to_z_up(loaded.vertices)
        torch.testing.assert_close(vertices[torch.tensor(np.asarray(loaded.faces))], mesh.vertices[mesh.faces],
                                   rtol=0, atol=1e-5)
        colors = torch.tensor(np.asarray(loaded.visual.vertex_colors)[:, :3] / 255.0, dtype=torch.float32)
        torch.testing.assert_close(colors[torch.tensor(np.asarray(loaded.faces))],
                                   mesh.vertex_colors[mesh.faces], rtol=0, atol=0.5 / 255 + 1e-6)


def test_previews_index_page_and_summary(tiny_checkpoint, tmp_path, capsys):
    tricky = 'a <b>bold</b> "cube" & co'
    out = tmp_path / "out"
    cfg = _config(tiny_checkpoint, out, f"prompts=['{tricky}',a blue sphere]")
    summary = run_inference(cfg)
    assert json.loads((out / "summary.json").read_text()) == summary
    first = summary["prompts"][0]
    assert first["prompt"] == tricky and first["status"] == "ok"
    assert Image.open(out / first["preview"]).size == (64, 64)  # 4 views of 32 px as 2 x 2
    gif = Image.open(out / first["turntable"])
    assert gif.n_frames == 4 and gif.size == (32, 32)
    views = np.asarray(Image.open(out / first["preview"]).convert("RGB"))
    assert (views < 250).any(axis=-1).mean() > 0.05, "the mesh should be visible on the white background"
    page = (out / "index.html").read_text()
    assert tricky not in page and "a &lt;b&gt;bold&lt;/b&gt; &quot;cube&quot; &amp; co" in page
    links = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert len(links) >= 6
    for link in links:
        assert not link.startswith(("/", "http")) and (out / link).is_file(), link
    table = summary_table(summary)
    assert "a blue sphere" in table and "meshes/001_a_blue_sphere.glb" in table


def test_uv_textured_glb_has_a_texture_baked_from_the_color_head(pipeline, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    cfg = _config(tiny_checkpoint, out, "prompts=[a red cube]", "export.texture=uv", "export.texture_resolution=64",
                  "preview.enabled=false")
    record = run_inference(cfg)["prompts"][0]
    loaded = trimesh.load(out / record["mesh"], process=False, force="mesh")
    assert loaded.visual.kind == "texture"
    image = loaded.visual.material.baseColorTexture
    assert image.size == (64, 64)
    uv = np.asarray(loaded.visual.uv)
    assert uv.shape == (len(loaded.vertices), 2) and uv.min() >= 0 and uv.max() <= 1
    vertices = _to_z_up(loaded.vertices)
    triplane = pipeline.triplanes(pipeline.encode(["a red cube"]))[0]
    expected = pipeline.colors(triplane, vertices).numpy()
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    cols = np.clip(np.round(uv[:, 0] * 64 - 0.5), 0, 63).astype(int)
    rows = np.clip(np.round((1 - uv[:, 1]) * 64 - 0.5), 0, 63).astype(int)
    assert np.abs(pixels[rows, cols] - expected).mean() < 0.01


def test_interpolation_writes_steps_and_a_captioned_filmstrip(pipeline, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    cfg = _config(tiny_checkpoint, out, "interpolate.prompts=[a red cube,a blue sphere]", "interpolate.steps=3",
                  "interpolate.mode=slerp")
    summary = run_inference(cfg)
    assert summary["prompts"] == []
    walk = summary["interpolation"]
    assert walk["mode"] == "slerp" and [f["column"] for f in walk["frames"]] == [0, 1, 2]
    assert [f["label"] for f in walk["frames"]] == ["a red cube", "a red cube -> a blue sphere (0.50)",
                                                     "a blue sphere"]
    assert Image.open(out / walk["filmstrip"]).size == (3 * 32, 32)
    end = trimesh.load(out / walk["frames"][-1]["mesh"], process=False, force="mesh")
    plain = postprocess(pipeline("a blue sphere", grid_resolution=GRID)[0])
    assert len(end.faces) == plain.num_faces
    vertices = _to_z_up(end.vertices)[torch.tensor(np.asarray(end.faces))]
    torch.testing.assert_close(vertices, plain.vertices[plain.faces], rtol=0, atol=1e-5)


def test_an_empty_mesh_is_reported_and_the_others_finish(tiny_checkpoint, tmp_path, monkeypatch):
    from atom.pipelines import TextToMeshPipeline

    original = TextToMeshPipeline.meshes

    def second_is_empty(self, triplanes, grid_resolution=64, color=True):
        meshes = original(self, triplanes, grid_resolution, color)
        return [Mesh.empty() if i == 1 else m for i, m in enumerate(meshes)]

    monkeypatch.setattr(TextToMeshPipeline, "meshes", second_is_empty)
    out = tmp_path / "out"
    summary = run_inference(_config(tiny_checkpoint, out, "prompts=[a red cube,a void,a green cone]"))
    assert [r["status"] for r in summary["prompts"]] == ["ok", "empty", "ok"]
    assert summary["empty"] == ["a void"]
    assert "mesh" not in summary["prompts"][1]
    assert (out / summary["prompts"][2]["mesh"]).is_file()
    assert "a void" in (out / "index.html").read_text()
    assert "empty" in summary_table(summary)


def test_postprocess_options_reach_the_exported_mesh(tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    summary = run_inference(_config(tiny_checkpoint, out, "prompts=[a red cube]", "postprocess.normalize=true",
                                    "preview.enabled=false"))
    loaded = trimesh.load(out / summary["prompts"][0]["mesh"], process=False, force="mesh")
    assert np.abs(loaded.bounds.sum(axis=0)).max() < 1e-5  # centred
    assert (loaded.bounds[1] - loaded.bounds[0]).max() == pytest.approx(2.0, abs=1e-5)


def test_bad_input_fails_before_any_work(tiny_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "out"

    def fails(error, match, *overrides, checkpoint=tiny_checkpoint):
        with pytest.raises(error, match=match):
            run_inference(_config(checkpoint, out, *overrides))
        assert not out.exists(), "nothing may be written on bad input"

    fails(InferenceError, "no prompts given")
    fails(InferenceError, "prompt 1 is empty", "prompts=[a red cube,'  ']")
    fails(InferenceError, "cannot read prompts_file=.*not found", f"prompts_file={tmp_path / 'missing.txt'}")
    binary = tmp_path / "prompts.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    fails(InferenceError, "cannot read prompts_file", f"prompts_file={binary}")
    fails(InferenceError, "at least 2 prompts", "interpolate.prompts=[a red cube]")
    fails(InferenceError, "export.texture=uv needs export.format=glb", "prompts=[a]", "export.texture=uv",
          "export.format=obj")
    fails(InferenceError, "device='quantum'", "prompts=[a]", "device=quantum")
    monkeypatch.setattr("atom.pipelines.inference.decimation_available", lambda: False)
    fails(InferenceError, "fast-simplification", "prompts=[a]", "postprocess.target_faces=100")
    fails(CheckpointError, "does not exist", "prompts=[a]", checkpoint=tmp_path / "no_checkpoint")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("config.json", "train_config.yaml"):
        (corrupt / name).write_bytes((tiny_checkpoint / name).read_bytes())
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    fails(CheckpointError, "cannot load the model", "prompts=[a]", checkpoint=corrupt)


def test_an_existing_output_directory_needs_overwrite(tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InferenceError, match="already exists and is not empty.*overwrite=true"):
        run_inference(_config(tiny_checkpoint, out, "prompts=[a red cube]"))
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    summary = run_inference(_config(tiny_checkpoint, out, "prompts=[a red cube]", "overwrite=true",
                                    "preview.enabled=false"))
    assert (out / summary["prompts"][0]["mesh"]).is_file() and (out / "keep.txt").read_text() == "mine"
