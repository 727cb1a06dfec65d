"""The tiny pipelines: diffusers-valid layouts, IF/SD-shaped configs, deterministic, and usable with the
project's text encoders."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from atom.guidance import PixelSDS
from atom.testing.tiny_diffusion import build_tiny_if
from atom.text.t5 import T5TextEncoder


def test_tiny_if_is_an_if_pipeline_shaped_like_stage_one(tiny_if: Path) -> None:
    index = json.loads((tiny_if / "model_index.json").read_text())
    assert index["_class_name"] == "IFPipeline"
    unet = json.loads((tiny_if / "unet" / "config.json").read_text())
    text = json.loads((tiny_if / "text_encoder" / "config.json").read_text())
    assert (unet["in_channels"], unet["out_channels"], unet["sample_size"]) == (3, 6, 64)
    assert unet["encoder_hid_dim"] == text["d_model"]
    scheduler = json.loads((tiny_if / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "DDPMScheduler"
    assert (scheduler["beta_schedule"], scheduler["variance_type"]) == ("squaredcos_cap_v2", "learned_range")
    weights = load_file(tiny_if / "unet" / "diffusion_pytorch_model.safetensors")
    assert 0.5e6 < sum(w.numel() for w in weights.values()) < 2e6


def test_tiny_sd_is_an_sd_pipeline(tiny_sd: Path) -> None:
    index = json.loads((tiny_sd / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    vae = json.loads((tiny_sd / "vae" / "config.json").read_text())
    unet = json.loads((tiny_sd / "unet" / "config.json").read_text())
    text = json.loads((tiny_sd / "text_encoder" / "config.json").read_text())
    assert vae["latent_channels"] == unet["in_channels"] == unet["out_channels"] == 4
    assert unet["cross_attention_dim"] == text["hidden_size"]


def test_builds_are_deterministic(tiny_if: Path, tmp_path: Path) -> None:
    again = build_tiny_if(tmp_path / "again")
    for part in ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        first, second = load_file(tiny_if / part), load_file(again / part)
        assert first.keys() == second.keys()
        assert all(torch.equal(first[name], second[name]) for name in first), part


def test_pixel_sds_runs_on_the_tiny_t5_embeddings(tiny_if: Path) -> None:
    encoder = T5TextEncoder(str(tiny_if))
    sds = PixelSDS(path=str(tiny_if), resolution=16)
    assert sds.embedding_dim == encoder.dim
    images = torch.rand(2, 3, 16, 16, requires_grad=True)
    out = sds(
        images, encoder.encode(["a red cube", "a blue torus"]), encoder.encode([""], allow_empty=True), 0.5
    )
    out.loss.backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
