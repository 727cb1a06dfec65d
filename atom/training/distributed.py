"""The process group of data-parallel training (``torchrun``; gloo on CPU, NCCL on GPU) and small collectives.

Each rank trains on its own shard of the data; the gradients are averaged by torch's
``DistributedDataParallel``, which the trainer wraps around the training system (whose ``forward`` is the
whole training step). This module only joins the group, shards, and checks agreement between ranks.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collective buffers live (NCCL needs CUDA tensors)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistributedContext:
    """Join the process group that ``torchrun`` describes in the environment; a no-op for one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    ctx = DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                             str(device))
    logger.info("distributed: rank %d of %d (%s)", ctx.rank, ctx.world_size, dist.get_backend())
    return ctx


def shard(indices: list[int], ctx: DistributedContext) -> list[int]:
    """This rank's prompts: every ``world_size``-th one, so shards differ in size by at most one."""
    if len(indices) < ctx.world_size:
        raise ValueError(f"{len(indices)} training prompts cannot be sharded over {ctx.world_size} ranks")
    return indices[ctx.rank :: ctx.world_size]


def all_ranks_agree(flag: bool, ctx: DistributedContext) -> bool:
    """True only if ``flag`` holds on every rank (e.g. "this step's loss is finite")."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def replica_max_difference(module: nn.Module, ctx: DistributedContext) -> float:
    """Largest absolute difference between this module's parameters on any rank and on rank 0 (0.0 when
    the replicas are in sync; anything else means the gradient averaging is broken)."""
    if not ctx.enabled:
        return 0.0
    local = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
    reference = local.clone()
    dist.broadcast(reference, src=0)
    difference = (local - reference).abs().max().reshape(1)
    dist.all_reduce(difference, op=dist.ReduceOp.MAX)
    return float(difference.item())


def cleanup(ctx: DistributedContext) -> None:
    """Leave the process group together: wait for every rank (rank 0 may still be exporting), then destroy
    it. Drop DistributedDataParallel wrappers first: a reducer freed after the group is gone blocks its
    process at exit."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
