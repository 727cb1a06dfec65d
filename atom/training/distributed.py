"""Data-parallel training across processes (``torchrun``; gloo on CPU, NCCL on GPU).

Each rank trains on its own shard of the prompts and the gradients are averaged with one coalesced
all-reduce per step. We average gradients by hand instead of wrapping the generator in
``DistributedDataParallel`` because a step calls several generator methods (triplane, SDF, colour,
deformation queries), not one ``forward``; DDP's reducer only follows ``forward`` calls.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

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


def broadcast_parameters(modules: list[nn.Module], ctx: DistributedContext) -> None:
    """Start every replica from rank 0's weights."""
    if not ctx.enabled:
        return
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def average_gradients(parameters: list[nn.Parameter], ctx: DistributedContext) -> None:
    """Average ``.grad`` over ranks in one flat all-reduce; pass only trainable parameters (a parameter
    without a gradient on this rank counts as zero)."""
    if not ctx.enabled:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= ctx.world_size
    for p, synced in zip(parameters, _unflatten_dense_tensors(flat, grads)):
        if p.grad is None:
            p.grad = synced.clone()
        else:
            p.grad.copy_(synced)


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
    local = _flatten_dense_tensors([p.detach() for p in module.parameters()])
    reference = local.clone()
    dist.broadcast(reference, src=0)
    difference = (local - reference).abs().max().reshape(1)
    dist.all_reduce(difference, op=dist.ReduceOp.MAX)
    return float(difference.item())


def cleanup(ctx: DistributedContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
