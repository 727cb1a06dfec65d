"""The training-system interface: what a generic training loop needs from one kind of model training.

A *system* (cf. nerfstudio's Model + DataManager, Lightning's LightningModule) is an ``nn.Module`` that owns
its networks, renderers and frozen guidance or data source, and knows how to turn one batch into losses. The
``Trainer`` (``atom.training.trainer``) only runs the loop around it: optimiser and schedule, AMP, non-finite
skips, checkpoints and resume, signals, logging, DistributedDataParallel and callbacks. It never looks inside
a system beyond this interface, so AToM's two-stage SDS system (``atom.training.atom_system``) and a
supervised reconstruction system (batches of rendered objects, reconstruction losses) plug into the same
loop.

The loop, per step ``t``::

    phase = system.phase(t)                       # e.g. AToM's stage 1 / 2; sets the trainable groups
    batch = system.sample_batch(t, generator)      # draw (or receive) a batch with the loop's torch RNG
    out = system(batch)                            # forward = one training step (what DDP wraps)
    out.loss.backward(); optimiser.step()          # by the Trainer, with AMP / clipping / skips

``forward`` being the whole training step is what lets torch's ``DistributedDataParallel`` follow every
parameter the step uses (the field queries of a triplane model are several method calls, not one network
``forward``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from atom.training.callbacks import Callback


@dataclass
class StepOutput:
    """What one training step returns.

    Attributes:
        loss: scalar tensor to backpropagate (the weighted sum of all terms).
        scalars: values to log this step (e.g. ``{"loss/sds": 0.3}``), plain floats.
        counts: event counts of this step that the trainer accumulates over the run and saves with the
            checkpoint (e.g. ``{"empty_meshes": 1}``).
    """

    loss: Tensor
    scalars: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


class TrainingSystem(nn.Module, abc.ABC):
    """Base class of a training system; subclasses implement the abstract methods.

    Its ``state_dict`` is *not* what a checkpoint stores: a checkpoint holds ``pretrained_model()``'s weights
    (``save_pretrained``, what inference loads) plus ``extra_state()`` (other trained tensors)."""

    @abc.abstractmethod
    def phase(self, step: int) -> int:
        """The training phase at optimiser step ``step`` (0-based); phases change only at known steps."""

    @abc.abstractmethod
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Every trainable parameter by named group; the optimiser keeps one param group per name, with the
        learning rate ``optim.lr_<name>``, across all phases (so optimiser states keep one layout)."""

    @abc.abstractmethod
    def trainable_groups(self, phase: int) -> set[str]:
        """Names of the groups that train in ``phase``; the others are frozen (``requires_grad=False``)."""

    @abc.abstractmethod
    def sample_batch(self, step: int, generator: torch.Generator) -> Any:
        """The batch of step ``step``; every random choice uses ``generator`` (the loop's RNG, checkpointed)
        so that a resumed run draws the same batches."""

    @abc.abstractmethod
    def forward(self, batch: Any) -> StepOutput:
        """One training step on ``batch``: losses and scalars (no backward, no optimiser)."""

    @abc.abstractmethod
    def pretrained_model(self) -> nn.Module:
        """The network a checkpoint saves with ``save_pretrained`` (and inference loads)."""

    def extra_state(self) -> dict[str, Tensor]:
        """Trained tensors beyond ``pretrained_model()`` that a checkpoint must keep (default: none)."""
        return {}

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        """Restore what ``extra_state`` returned; raises ``KeyError``/``RuntimeError`` when it does not fit."""
        if state:
            raise KeyError(f"this system saves no extra state, got {sorted(state)}")

    def callbacks(self) -> list[Callback]:
        """Previews, exports and evaluations this system wants run by the trainer (default: none)."""
        return []

    def set_phase(self, phase: int) -> None:
        """Freeze every group that does not train in ``phase`` (the trainer calls this before each step)."""
        active = self.trainable_groups(phase)
        for name, params in self.parameter_groups().items():
            for p in params:
                p.requires_grad_(name in active)
