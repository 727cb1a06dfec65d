"""The trainer of a run from its typed config: the system that ``cfg.system`` names, in the generic loop."""

from __future__ import annotations

from pathlib import Path

import torch

from atom.build import resolve_device
from atom.config import SystemKind, TrainConfig
from atom.training import distributed as dist_utils
from atom.training.allocator import retain_freed_memory
from atom.training.atom_system import AToMSystem
from atom.training.crm_system import CRMSystem
from atom.training.trainer import Trainer


def build_trainer(cfg: TrainConfig, run_dir: str | Path) -> Trainer:
    """AToM's two-stage SDS system (``system=atom``) or CRM's reconstruction system (``system=crm``) in a
    ``Trainer`` writing into ``run_dir``; ``cfg`` is a ``TrainConfig`` instance (``OmegaConf.to_object``)."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"build_trainer needs a TrainConfig instance (OmegaConf.to_object(cfg)), got "
                        f"{type(cfg).__name__}")
    if cfg.trainer.retain_freed_memory:
        retain_freed_memory()
    device = resolve_device(cfg.trainer.device)
    ctx = dist_utils.init_distributed(device)
    torch.manual_seed(cfg.seed)
    system = CRMSystem(cfg, device) if cfg.system is SystemKind.crm else AToMSystem(cfg, device, ctx)
    return Trainer(system, run_dir, cfg.trainer, cfg.optim, cfg.logger, cfg, cfg.seed, device, ctx)
