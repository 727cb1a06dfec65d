"""A tiny but complete training configuration (tiny IF guidance + tiny T5, tiny model): seconds per step on CPU.

Used by the trainer tests and for smoke runs: ``compose_tiny(root, run_dir, "trainer.max_steps=3")``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atom.build import build_model
from atom.config import CONF_DIR, TrainConfig, register_configs
from atom.testing.tiny_diffusion import build_tiny_if
from atom.training.checkpoint import TrainingState, save_checkpoint

TINY_OVERRIDES = [
    "text=t5", "text.dtype=float32", "text.max_length=16",
    "guidance=deepfloyd_if", "guidance.dtype=float32", "guidance.resolution=32", "guidance.guidance_scale=5",
    "prompts.source=list", "prompts.prompts=[a red cube,a blue sphere,a green cone]",
    "prompts.test_prompts=[a red sphere]", "prompts.wordings=none",
    "model.text_dim=32", "model.query_resolution=4", "model.hidden_dim=16", "model.num_blocks=1",
    "model.num_heads=2", "model.triplane_resolution=8", "model.triplane_channels=4", "model.head_hidden=16",
    "model.head_layers=1",
    "render.views_per_prompt=1", "stage1.resolution=12", "stage1.num_samples=8", "stage1.num_importance=4",
    "stage2.resolution=24", "stage2.grid_resolution=8", "stage2.geometry=dmtet",
    "trainer.prompts_per_step=2", "trainer.device=cpu", "trainer.log_every=1", "trainer.image_every=0",
    "trainer.checkpoint_every=100", "trainer.image_prompts=2", "trainer.export_grid_resolution=8",
    "trainer.progress=false", "optim.warmup_steps=1", "logger=jsonl",
]


def tiny_pipeline(root: Path) -> Path:
    path = root / "tiny_if"
    if not (path / "unet").exists():
        build_tiny_if(path)
    return path


def compose_tiny(root: Path, run_dir: Path, *overrides: str) -> TrainConfig:
    """The tiny config (a typed ``TrainConfig``) with the run in ``run_dir``; extra Hydra overrides are applied
    last."""
    pipeline = tiny_pipeline(root)
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[
            *TINY_OVERRIDES, f"text.path={pipeline}", f"guidance.path={pipeline}", f"run_dir={run_dir}",
            *overrides])
    return OmegaConf.to_object(cfg)


def tiny_checkpoint(root: Path, *overrides: str) -> Path:
    """A checkpoint of a freshly built tiny text-to-triplane model (tiny T5 text encoder, 8^2 triplanes) under
    ``root/run``, saved through the trainer's own ``save_checkpoint``; returns its directory. ``overrides``
    (Hydra) change the config, e.g. ``stage2.geometry=flexicubes`` (the model then has the weight head).

    Untrained: even one tiny training step costs far longer on a shared CPU, and its users (inference, the
    app) test mechanics, not quality. The SDF and deformation heads' last layers (zero at initialisation,
    which would make every prompt the same sphere) get small seeded random weights so that the geometry
    depends on the prompt and the deformation path is exercised (the FlexiCubes weight head's too).
    """
    run = root / "run"
    cfg = compose_tiny(root, run, *overrides)
    with torch.random.fork_rng():  # the same weights in every process, whatever the global RNG holds
        torch.manual_seed(0)
        model = build_model(cfg.model, cfg.stage2.geometry)
    rng = torch.Generator().manual_seed(0)
    heads = [model.sdf_head, model.deformation_head] + ([model.weight_head] if model.weight_head else [])
    with torch.no_grad():
        for head in heads:
            last = head.net[-1]
            last.weight.copy_(0.3 * torch.randn(last.weight.shape, generator=rng))
            last.bias.zero_()
    state = TrainingState(step=1, optimizer={}, scheduler={}, rng={}, counters={})
    return save_checkpoint(run, 1, model, cfg, state)
