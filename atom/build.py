"""Build the rooms' objects from the typed config (``atom.config`` dataclass instances, as
``OmegaConf.to_object`` returns them): one explicit mapping per enum."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from atom.config import (
    GuidanceConfig,
    GuidanceKind,
    ModelConfig,
    PromptsConfig,
    PromptSource,
    TextConfig,
    TextEncoderKind,
)
from atom.guidance import LatentSDS, PixelSDS, ScoreDistillation
from atom.model import GeneratorConfig, TriplaneGenerator
from atom.prompts import PromptSet
from atom.text import CLIPTextEncoder, MiniLMTextEncoder, T5TextEncoder, TextEncoder

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU (logged); anything else is passed to ``torch.device``."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        logger.info("device: %s (auto)", device)
        return device
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"trainer.device={name!r} but CUDA is not available; use 'cpu' or 'auto'")
    return device


def build_text_encoder(cfg: TextConfig, device: torch.device) -> TextEncoder:
    kind = cfg.kind
    if kind is TextEncoderKind.minilm:
        return MiniLMTextEncoder(path=cfg.path, max_length=cfg.max_length, device=str(device))
    common = dict(max_length=cfg.max_length, dtype=cfg.dtype, device=str(device))
    for key in ("path", "subfolder", "tokenizer_subfolder"):
        if getattr(cfg, key) is not None:
            common[key] = getattr(cfg, key)
    if kind is TextEncoderKind.t5:
        return T5TextEncoder(load_in_8bit=cfg.load_in_8bit, **common)
    return CLIPTextEncoder(**common)


def build_model(cfg: ModelConfig) -> TriplaneGenerator:
    """The text-to-triplane network of a typed ``ModelConfig`` (a dataclass instance)."""
    return TriplaneGenerator(GeneratorConfig(**dataclasses.asdict(cfg)))


def build_guidance(cfg: GuidanceConfig, device: torch.device) -> ScoreDistillation:
    kind = cfg.kind
    kwargs = dict(
        path=cfg.path, guidance_scale=cfg.guidance_scale, resolution=cfg.resolution, weighting=cfg.weighting,
        t_min=cfg.t_min, t_max=cfg.t_max, anneal=cfg.anneal, final_t_max=cfg.final_t_max, dtype=cfg.dtype,
        channels_last=cfg.channels_last, attention_slicing=cfg.attention_slicing, grad_clip=cfg.grad_clip,
    )
    guidance = PixelSDS(**kwargs) if kind is GuidanceKind.pixel else LatentSDS(**kwargs)
    return guidance.to(device)


def build_prompt_set(cfg: PromptsConfig) -> PromptSet:
    source = cfg.source
    if source is PromptSource.toy64:
        from atom.toyworld.shapes import toy64, toy64_split

        train, test = toy64_split()
        return PromptSet([obj.prompt for obj in toy64()], list(train), list(test), name="toy64")
    if source is PromptSource.file:
        if not cfg.file:
            raise ValueError("prompts.source=file needs prompts.file=/path/to/prompts.txt (one prompt per line)")
        return PromptSet.from_file(Path(cfg.file).expanduser())
    if source is PromptSource.grid:
        if not cfg.template or not cfg.slots:
            raise ValueError("prompts.source=grid needs prompts.template and prompts.slots")
        return PromptSet.from_grid(cfg.template, {k: list(v) for k, v in cfg.slots.items()}, holdout=cfg.holdout)
    if not cfg.prompts:
        raise ValueError("prompts.source=list needs a non-empty prompts.prompts=[...]")
    return PromptSet.from_list(list(cfg.prompts) + list(cfg.test_prompts),
                               test=list(range(len(cfg.prompts), len(cfg.prompts) + len(cfg.test_prompts))))
