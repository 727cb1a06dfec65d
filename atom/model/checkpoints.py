"""Reading checkpoints: find one (a checkpoint directory or a run directory's newest) and check its files.

Lives beside ``save_pretrained``/``from_pretrained`` because inference needs only this half: it opens a
checkpoint by path. Writing checkpoints (atomic saves, pruning, the trainer's own state) is the training
room's job (``atom.training.checkpoint``), which builds on the names here.

Layout of one checkpoint (a directory ``<run>/checkpoints/step_0000100/``)::

    model.safetensors      the model's weights (safetensors; never pickled)
    config.json            the model's own config (``from_pretrained`` reads it)
    train_config.yaml      the fully resolved training config of the run
    trainer_state.pt       optimizer/scheduler/RNG state + step (plain tensors and containers only)
    extra.safetensors      what the training system saves beyond the model (e.g. the NeuS variance)
"""

from __future__ import annotations

import re
from pathlib import Path

CHECKPOINT_DIR = "checkpoints"
REQUIRED_FILES = ("model.safetensors", "config.json", "train_config.yaml", "trainer_state.pt")
_STEP_PATTERN = re.compile(r"^step_(\d{7,})$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or belongs to another kind of run."""


def checkpoint_name(step: int) -> str:
    """The directory name of the checkpoint written after ``step`` optimiser steps."""
    return f"step_{step:07d}"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary and partial directories are ignored)."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_PATTERN.match(child.name)
        if match and child.is_dir() and all((child / f).is_file() for f in REQUIRED_FILES):
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """Accept a checkpoint directory or a run directory (-> its newest checkpoint); validate the files."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"checkpoint path {str(path)!r} does not exist")
    if path.is_dir() and not (path / "model.safetensors").exists():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(
                f"{str(path)!r} is neither a checkpoint (no model.safetensors) nor a run directory with "
                f"complete checkpoints under {CHECKPOINT_DIR}/")
        path = found[-1]
    missing = [f for f in ("model.safetensors", "config.json") if not (path / f).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} is incomplete: missing {missing}")
    return path
