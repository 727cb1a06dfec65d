"""Callbacks: work the trainer runs at fixed points of the loop (previews, exports, evaluations).

As in nerfstudio, a callback holds what it needs (a system, a prompt list, a folder) from its construction;
the trainer hands it only a small ``CallbackContext`` (step, run directory, logger) and never the trainer
itself, so a callback cannot reach into the loop's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atom.training.loggers import RunLogger


@dataclass(frozen=True)
class CallbackContext:
    """Where the run stands: ``step`` optimiser steps done; files go under ``run_dir``."""

    step: int
    run_dir: Path
    logger: RunLogger


class Callback:
    """Base class; override the hooks you need. Callbacks run on the main process only."""

    def on_step_end(self, context: CallbackContext) -> None:
        """After every optimiser step (check ``context.step`` for an interval)."""

    def on_train_end(self, context: CallbackContext) -> dict:
        """After the last step of an uninterrupted run; returns entries for the run summary."""
        return {}
