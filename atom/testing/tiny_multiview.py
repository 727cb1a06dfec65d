"""Tiny, randomly initialised multi-view diffusion stages (image -> six views, views -> CCMs), built offline.

They stand in for the bundled toy stages (``atom/weights/toy_mv_views``, ``toy_mv_ccms``) in tests and smoke
runs: the same class and folder layout (:meth:`~atom.model.MultiViewDiffusionModel.save_pretrained`), 32-px
tiles like :data:`atom.testing.tiny_reconstruction.TINY_RECONSTRUCTION` so that the three stages chain, a
32-px input picture, a few thousand parameters and 4 DDIM steps by default. Same weights on every call with
one seed.
"""

from __future__ import annotations

from pathlib import Path

import torch

from atom.model.multiview_diffusion import MultiViewDiffusionModel

TINY_MULTIVIEW = {
    "tile_size": 32, "input_size": 32, "block_out_channels": (8, 16),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"), "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "norm_num_groups": 4, "attention_heads": 2, "encoder_channels": (8, 16), "embedding_dim": 16,
    "num_inference_steps": 4, "guidance_scale": 2.0,
}


def build_tiny_multiview(stage: str, seed: int = 0, **overrides) -> MultiViewDiffusionModel:
    """A random-weight stage ``"views"`` or ``"ccms"`` of :data:`TINY_MULTIVIEW` (and ``overrides``), eval mode.

    The null tokens (zero at initialisation) are drawn at random too, so that guidance changes the output.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MultiViewDiffusionModel({**TINY_MULTIVIEW, "stage": stage, **overrides})
        with torch.no_grad():
            model.null_tokens.normal_()
    return model.eval()


def tiny_multiview_model(path: str | Path, stage: str, seed: int = 0, **overrides) -> Path:
    """Save :func:`build_tiny_multiview` ``(stage, seed, **overrides)`` into ``path``; returns the folder."""
    return build_tiny_multiview(stage, seed, **overrides).save_pretrained(path)
