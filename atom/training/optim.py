"""AdamW over named parameter groups with a linear warm-up then cosine decay (one schedule for all groups)."""

from __future__ import annotations

import math

import torch
from torch import nn

from atom.config import OptimConfig


def build_optimizer(groups: dict[str, list[nn.Parameter]], cfg: OptimConfig) -> torch.optim.AdamW:
    """One AdamW param group per named group; the learning rate is ``cfg.lr_<name>``.

    Groups are always all present (frozen ones too) so that optimizer state dicts keep the same layout
    across stages and resumes; a frozen group's parameters simply receive no gradient.
    """
    param_groups = []
    for name, params in groups.items():
        lr = getattr(cfg, f"lr_{name}", None)
        if lr is None:
            raise ValueError(f"no learning rate for parameter group {name!r}: add optim.lr_{name}")
        param_groups.append({"params": params, "lr": lr, "name": name})
    return torch.optim.AdamW(param_groups, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float):
    """Multiplier for ``LambdaLR``: 0 -> 1 linearly over ``warmup_steps``, then cosine down to ``min_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(cfg.warmup_steps, total_steps, cfg.min_lr_ratio))
