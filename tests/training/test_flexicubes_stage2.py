"""AToM's stage 2 on FlexiCubes (tiny config): finite losses with FlexiCubes' regularisers, the weight head and
the deformation head trained in stage 2 only, the choice recorded in the checkpoint and used by inference
(watertight meshes), and geometry.backend=kaolin refused clearly when kaolin is missing."""

from __future__ import annotations

import json
import math

import pytest
import torch
import trimesh
from safetensors import safe_open

from atom.geometry import kaolin_available
from atom.model import resolve_checkpoint
from atom.model.mesh_extraction import FLEXICUBES_LOSSES
from atom.pipelines import TextToMeshPipeline
from atom.testing.tiny_training import compose_tiny
from atom.training.build import build_trainer

#: distinct weights of FlexiCubes' regularisers, so the test can tell which joined the loss and how
LOSS_WEIGHTS = {"deviation": 0.3, "sign": 0.07, "weight_l1": 0.02}


def _gradient_size(module: torch.nn.Module) -> float | None:
    """Sum of |grad| over the module's parameters; None when no parameter has a gradient (frozen)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return None if not grads else float(sum(g.abs().sum() for g in grads))


@pytest.fixture(scope="module")
def flexi_run(tiny_assets, tmp_path_factory):
    """A 3-step FlexiCubes run (1 NeuS step, 2 FlexiCubes steps): its trainer, per-step metrics and gradients."""
    run = tmp_path_factory.mktemp("flexi") / "run"
    cfg = compose_tiny(tiny_assets, run, "stage2.geometry=flexicubes", "stage1.steps=1", "trainer.max_steps=3",
                       *(f"stage2.flexicubes_{name}_weight={w}" for name, w in LOSS_WEIGHTS.items()))
    trainer = build_trainer(cfg, run)
    model = trainer.system.model
    steps = []
    for _ in range(3):
        result = trainer.train_step()
        frozen = not any(p.requires_grad for head in (model.weight_head, model.deformation_head)
                         for p in head.parameters())
        result.metrics["frozen"] = frozen
        steps.append((result.metrics, _gradient_size(model.weight_head), _gradient_size(model.deformation_head)))
        trainer.step += 1
    trainer.save()
    return trainer, steps


def test_stage2_trains_the_weight_head_and_the_deformation_only_in_stage2(flexi_run):
    trainer, steps = flexi_run
    assert "flexicubes_weights" in trainer.system.parameter_groups()
    assert trainer.system.model.weight_head is not None
    (stage1, weight1, deform1), *stage2 = steps
    assert stage1["train/stage"] == 1.0 and stage1["frozen"], "frozen in stage 1"
    assert weight1 is None and deform1 is None
    assert not any(k.startswith("loss/flexicubes") for k in stage1)
    for metrics, weight, deform in stage2:
        assert metrics["train/stage"] == 2.0 and not metrics["frozen"]
        assert all(math.isfinite(v) for k, v in metrics.items() if k.startswith("loss/"))
        assert {f"loss/{name}" for name in FLEXICUBES_LOSSES} <= set(metrics)
        assert metrics["loss/flexicubes_sign"] > 0  # a sphere's surface crosses grid edges
        assert weight is not None and weight > 0, "the weight head gets gradients in stage 2"
        assert deform is not None and deform > 0, "the deformation head gets gradients in stage 2"
        # the stage-2 loss is SDS + the weighted regularisers, FlexiCubes' three with their configured weights
        weights = {"normal_consistency": 0.1, "laplacian": 0.1, "empty_recovery": 1.0,
                   "flexicubes_deviation": LOSS_WEIGHTS["deviation"], "flexicubes_sign": LOSS_WEIGHTS["sign"],
                   "flexicubes_weights": LOSS_WEIGHTS["weight_l1"]}
        expected = metrics["loss/sds"] + sum(w * metrics[f"loss/{k}"] for k, w in weights.items())
        assert metrics["loss/total"] == pytest.approx(expected, rel=1e-5)
    # the weight head moved away from its zero initialisation: the L1 of the raw weights grew from 0
    assert stage2[0][0]["loss/flexicubes_weights"] == 0.0 < stage2[1][0]["loss/flexicubes_weights"]


def test_the_checkpoint_records_flexicubes_and_inference_gives_watertight_meshes(flexi_run):
    trainer, _ = flexi_run
    checkpoint = resolve_checkpoint(trainer.run_dir)
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["extractor"] == "flexicubes"
    with safe_open(str(checkpoint / "model.safetensors"), "pt") as weights:
        assert any(key.startswith("weight_head.") for key in weights.keys())  # noqa: SIM118 (safe_open API)
    pipe = TextToMeshPipeline.from_pretrained(checkpoint)
    assert pipe.extractor == "flexicubes" and pipe.model.weight_head is not None
    for mesh in pipe(["a red cube", "a blue sphere"], grid_resolution=16):
        assert mesh.num_faces > 0
        tri = trimesh.Trimesh(mesh.vertices.numpy(), mesh.faces.numpy(), process=True)
        assert tri.is_watertight and tri.volume > 0  # closed and outward
    # the weight head shapes the mesh: zeroing it (FlexiCubes' default weights) keeps the dual vertices (one
    # per surface sheet of a cube: the signs decide) but moves them (beta, alpha) and re-splits quads (gamma)
    trained = pipe("a red cube", grid_resolution=16)[0]
    with torch.no_grad():
        for p in pipe.model.weight_head.parameters():
            p.zero_()
    default = pipe("a red cube", grid_resolution=16)[0]
    assert trained.num_vertices == default.num_vertices
    assert (trained.vertices - default.vertices).abs().max() > 1e-6


def test_the_same_checkpoint_still_extracts_with_dmtet(flexi_run):
    trainer, _ = flexi_run
    pipe = TextToMeshPipeline.from_pretrained(resolve_checkpoint(trainer.run_dir), extractor="dmtet")
    mesh = pipe("a red cube", grid_resolution=12)[0]
    assert pipe.extractor == "dmtet" and mesh.num_faces > 0


@pytest.mark.skipif(kaolin_available(), reason="kaolin is installed: the missing-backend error cannot show")
def test_the_kaolin_backend_without_kaolin_is_a_clear_error_at_start(tiny_config, tmp_path):
    cfg = tiny_config(tmp_path / "run", "geometry.backend=kaolin", "stage2.geometry=flexicubes")
    with pytest.raises(ImportError, match="'kaolin' geometry backend needs NVIDIA kaolin"):
        build_trainer(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()

