"""Run loggers: wandb in offline mode writes its run files; JSONL writes one record per call."""

from __future__ import annotations

import json

import torch
from PIL import Image

from atom.config import LoggerConfig, LoggerKind
from atom.geometry import Mesh, export_mesh
from atom.training.loggers import JSONLLogger, WandbLogger, build_logger


def _assets(tmp_path):
    image = tmp_path / "grid.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(image)
    vertices = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    mesh = export_mesh(Mesh(vertices, faces, torch.rand(4, 3)), tmp_path / "tet.glb")
    return image, mesh


def test_wandb_offline_run_writes_files_and_resumes_the_same_id(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    image, mesh = _assets(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = LoggerConfig(kind=LoggerKind.wandb, mode="offline")
    log = build_logger(cfg, run_dir, {"seed": 0})
    assert isinstance(log, WandbLogger)
    log.log_scalars({"loss/total": 1.0}, step=1)
    log.log_image("renders", image, step=1, caption="a red cube")
    log.log_meshes("meshes", [mesh], step=1)
    log.log_table("prompts", ["prompt", "split"], [["a red cube", "seen"]], step=1)
    first_id = log.run.id
    log.finish()
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))
    assert (run_dir / "wandb_id.txt").read_text() == first_id
    again = build_logger(cfg, run_dir, {"seed": 0})
    assert again.run.id == first_id  # a resumed run continues the same dashboard
    again.finish()


def test_jsonl_logger_records_every_call(tmp_path):
    image, mesh = _assets(tmp_path)
    log = JSONLLogger(tmp_path)
    log.log_scalars({"loss/total": 0.5, "bad": float("nan")}, step=3)
    log.log_image("renders", image, step=3)
    log.log_meshes("meshes", [mesh], step=3)
    log.finish()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[0] == {"step": 3, "loss/total": 0.5, "bad": "nan"}
    assert records[1]["renders"] == str(image) and records[2]["meshes"] == [str(mesh)]
