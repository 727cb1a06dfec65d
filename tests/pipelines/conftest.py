"""A tiny checkpoint for the inference tests, written once per session.

It holds a freshly built tiny generator (tiny T5 text encoder, 8^2 triplanes) saved through the trainer's own
``save_checkpoint``, rather than a trained one: training even one tiny step costs far longer on a shared CPU
and these tests check inference mechanics, not quality. The SDF and deformation heads' last layers (zero at
initialisation, which would make every prompt the same sphere) get small random weights so that the
geometry depends on the prompt and the deformation path is exercised.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from atom.build import build_model
from atom.pipelines import TextToMeshPipeline
from atom.testing.tiny_training import compose_tiny
from atom.training.checkpoint import TrainingState, save_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inference_assets")
    run = root / "run"
    cfg = compose_tiny(root, run)
    model = build_model(cfg.model)
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for head in (model.sdf_head, model.deformation_head):
            last = head.net[-1]
            last.weight.copy_(0.3 * torch.randn(last.weight.shape, generator=rng))
            last.bias.zero_()
    state = TrainingState(step=1, optimizer={}, scheduler={}, rng={}, counters={})
    return save_checkpoint(run, 1, model, cfg, state)


@pytest.fixture(scope="session")
def pipeline(tiny_checkpoint) -> TextToMeshPipeline:
    return TextToMeshPipeline.from_pretrained(tiny_checkpoint)
