"""Build the rooms' objects from the typed config (``atom.config``): one explicit mapping per enum.

Every function takes the schema's dataclass (``OmegaConf.to_object`` of the composed config; a ``DictConfig``
node of the same schema reads the same) and hands each room its own argument types: enum members become the
room's strings here, and nowhere else.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from atom.config import (
    GuidanceConfig,
    GuidanceKind,
    MeshExtractorKind,
    ModelConfig,
    PromptsConfig,
    PromptSource,
    Wordings,
)
from atom.guidance import LatentSDS, PixelSDS, ScoreDistillation
from atom.model import TextToMeshConfig, TextToMeshModel
from atom.prompts import PromptSet
from atom.prompts.wordings import PromptWordings, load_wordings_file
from atom.text.from_config import build_text_encoder

__all__ = ["build_model", "build_guidance", "build_prompt_set", "build_text_encoder", "resolve_device"]

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


def build_model(cfg: ModelConfig, extractor: MeshExtractorKind = MeshExtractorKind.dmtet) -> TextToMeshModel:
    """The text-to-triplane network of a typed ``ModelConfig`` (a dataclass instance) for the mesh extractor
    ``extractor`` (``stage2.geometry``: FlexiCubes adds the weight head)."""
    sizes = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(ModelConfig)}
    return TextToMeshModel(TextToMeshConfig(**sizes, extractor=extractor.value))


def build_guidance(cfg: GuidanceConfig, device: torch.device) -> ScoreDistillation:
    """``PixelSDS`` or ``LatentSDS`` with every ``ScoreDistillation`` argument taken from ``cfg``."""
    kwargs = dict(
        path=cfg.path, guidance_scale=cfg.guidance_scale, resolution=cfg.resolution, weighting=cfg.weighting.value,
        t_min=cfg.t_min, t_max=cfg.t_max, anneal=cfg.anneal.value, final_t_max=cfg.final_t_max,
        anneal_start=cfg.anneal_start, anneal_end=cfg.anneal_end, dtype=cfg.dtype.value, variant=cfg.variant,
        channels_last=cfg.channels_last, attention_slicing=cfg.attention_slicing, xformers=cfg.xformers,
        grad_clip=cfg.grad_clip, use_attention_mask=cfg.use_attention_mask,
    )
    guidance = PixelSDS(**kwargs) if cfg.kind is GuidanceKind.pixel else LatentSDS(**kwargs)
    return guidance.to(device)


def build_prompt_set(cfg: PromptsConfig) -> PromptSet:
    if cfg.source is PromptSource.toy64:
        from atom.toyworld.shapes import toy64, toy64_split

        train, test = toy64_split()
        return PromptSet([obj.prompt for obj in toy64()], list(train), list(test), name="toy64")
    if cfg.source is PromptSource.file:
        if not cfg.file:
            raise ValueError("prompts.source=file needs prompts.file=/path/to/prompts.txt (one prompt per line)")
        return PromptSet.from_file(Path(cfg.file).expanduser())
    if cfg.source is PromptSource.grid:
        if not cfg.template or not cfg.slots:
            raise ValueError("prompts.source=grid needs prompts.template and prompts.slots")
        slots = {k: list(v) for k, v in cfg.slots.items()}
        return PromptSet.from_grid(cfg.template, slots, holdout=cfg.holdout.value)
    if not cfg.prompts:
        raise ValueError("prompts.source=list needs a non-empty prompts.prompts=[...]")
    return PromptSet.from_list(list(cfg.prompts) + list(cfg.test_prompts),
                               test=list(range(len(cfg.prompts), len(cfg.prompts) + len(cfg.test_prompts))))


def build_prompt_wordings(cfg: PromptsConfig, prompt_set: PromptSet) -> PromptWordings | None:
    """The train prompts' other wordings that ``prompts.wordings`` names, or None (no prompt augmentation)."""
    if cfg.wordings is Wordings.none:
        return None
    if not 0.0 <= cfg.keep_wording_probability <= 1.0:
        raise ValueError(f"prompts.keep_wording_probability must be in [0, 1], got {cfg.keep_wording_probability}")
    if cfg.wordings is Wordings.toy64:
        if prompt_set.name != "toy64":
            raise ValueError(f"prompts.wordings=toy64 words the Toy64 prompts, but the prompt set is "
                             f"{prompt_set.name!r}: set prompts.wordings=none, or prompts.wordings=file with "
                             "prompts.wordings_file=...")
        from atom.toyworld.wordings import toy64_training_wordings

        return PromptWordings.build(prompt_set, toy64_training_wordings())
    if not cfg.wordings_file:
        raise ValueError("prompts.wordings=file needs prompts.wordings_file=/path/to/wordings.json")
    return PromptWordings.build(prompt_set, load_wordings_file(cfg.wordings_file))
