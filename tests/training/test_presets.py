"""The shipped presets resolve, and build with tiny stand-ins in place of the real (downloaded) models;
one step of each stage sends finite, non-zero gradients into every trainable parameter of that stage."""

from __future__ import annotations

import warnings

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atom.build import build_guidance, build_model, build_text_encoder
from atom.config import CONF_DIR, register_configs
from atom.testing.tiny_diffusion import build_tiny_if, build_tiny_sd
from atom.training.build import build_trainer

TINY_MODEL = ["model.query_resolution=4", "model.hidden_dim=16", "model.num_blocks=1", "model.num_heads=2",
              "model.triplane_resolution=8", "model.triplane_channels=4", "model.head_hidden=16"]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    return {"if": build_tiny_if(root / "if"), "sd": build_tiny_sd(root / "sd")}


def _compose(overrides: list[str]):
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


@pytest.mark.parametrize("experiment", ["toy64", "df415", "pig64"])
def test_presets_resolve(experiment, tmp_path):
    cfg = _compose([f"experiment={experiment}", f"run_dir={tmp_path}", "prompts.file=/data/prompts.txt"])
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True, enum_to_str=True)
    expected_text = {"toy64": "minilm", "df415": "t5", "pig64": "t5"}[experiment]
    assert resolved["text"]["kind"] == expected_text


def test_if_t5_preset_builds_with_tiny_stand_ins(tiny_models, tmp_path):
    path = str(tiny_models["if"])
    cfg = _compose(["experiment=df415", f"run_dir={tmp_path}", f"text.path={path}", f"guidance.path={path}",
                    "text.dtype=float32", "guidance.dtype=float32", "model.text_dim=32", *TINY_MODEL])
    device = torch.device("cpu")
    encoder = build_text_encoder(cfg.text, device)
    guidance = build_guidance(cfg.guidance, device)
    model = build_model(OmegaConf.to_object(cfg.model))
    text = encoder.encode(["a red cube"])
    assert text.dim == guidance.embedding_dim == model.config.text_dim == 32
    assert model(text.tokens, text.mask).shape == (1, 3, 4, 8, 8)


def test_sd_clip_preset_builds_with_tiny_stand_ins(tiny_models, tmp_path):
    path = str(tiny_models["sd"])
    cfg = _compose(["guidance=stable_diffusion", "text=clip", f"run_dir={tmp_path}", f"text.path={path}",
                    f"guidance.path={path}", f"guidance.text.path={path}", "guidance.dtype=float32",
                    "guidance.resolution=64"])
    device = torch.device("cpu")
    guidance_encoder = build_text_encoder(cfg.guidance.text, device)
    guidance = build_guidance(cfg.guidance, device)
    assert guidance_encoder.dim == guidance.embedding_dim
    cond = guidance_encoder.encode(["a red cube"])
    uncond = guidance_encoder.encode([""], allow_empty=True)
    images = torch.rand(1, 3, 64, 64, requires_grad=True)
    guidance(images, cond, uncond, progress=0.5).loss.backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_toy_preset_text_encoder_is_minilm():
    cfg = _compose(["experiment=toy64"])
    encoder = build_text_encoder(cfg.text, torch.device("cpu"))
    assert encoder.dim == cfg.model.text_dim == 384


@pytest.mark.parametrize("stage", [1, 2])
def test_every_trainable_parameter_of_the_stage_gets_a_gradient(tiny_config, tmp_path, stage):
    trainer = build_trainer(tiny_config(tmp_path / "run", "stage1.steps=1", "trainer.max_steps=4"), tmp_path / "run")
    # leave the zero-initialised output layers (sphere start, no deformation) so every path carries gradient
    torch.manual_seed(1)
    with torch.no_grad():
        for p in trainer.system.model.parameters():
            p.add_(torch.randn_like(p) * 1e-2)
    trainer.step = 0 if stage == 1 else 1
    captured = {}
    original_step = trainer.optimizer.step

    def capture_then_step(*args, **kwargs):
        for name, params in trainer.param_groups.items():
            captured[name] = [None if p.grad is None else p.grad.clone() for p in params if p.requires_grad]
        return original_step(*args, **kwargs)

    trainer.optimizer.step = capture_then_step
    with warnings.catch_warnings():  # LambdaLR notices the wrapped optimizer.step; harmless here
        warnings.simplefilter("ignore", UserWarning)
        result = trainer.train_step()
    assert not result.skipped
    assert bool(captured["deformation"]) == (stage == 2), "deformation trains in stage 2 only"
    assert bool(captured["variance"]) == (stage == 1), "the NeuS sharpness trains in stage 1 only"
    for name, grads in captured.items():
        for i, grad in enumerate(grads):
            assert grad is not None, f"stage {stage}: {name}[{i}] got no gradient"
            assert torch.isfinite(grad).all(), f"stage {stage}: {name}[{i}] has a non-finite gradient"
            assert grad.abs().sum() > 0, f"stage {stage}: {name}[{i}] has an all-zero gradient"
