"""Checkpoints that survive kills and disk-full errors, and that inference can open with only their path.

Layout of one checkpoint (a directory ``<run>/checkpoints/step_0000100/``)::

    model.safetensors      generator weights (safetensors; never pickled)
    config.json            the generator's own config (``TriplaneGenerator.from_pretrained`` reads it)
    train_config.yaml      the fully resolved training config of the run
    trainer_state.pt       optimizer/scheduler/RNG state + step; plain tensors and containers only, read back
                           with ``torch.load(weights_only=True)``
    extra.safetensors      other trainable tensors (e.g. the NeuS variance)

A checkpoint is written into ``step_XXXXXXX.tmp`` and renamed into place once every file is flushed, so a
reader only ever sees complete checkpoints; if the write fails (disk full), the temporary directory is
removed and the previous checkpoints are untouched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file, save_file

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
_STEP_PATTERN = re.compile(r"^step_(\d{7,})$")
REQUIRED_FILES = ("model.safetensors", "config.json", "train_config.yaml", "trainer_state.pt")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or belongs to another kind of run."""


@dataclass
class TrainingState:
    """Everything besides the weights that a resumed run needs to continue bit-for-bit."""

    step: int
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, torch.Tensor]
    counters: dict[str, int]


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}"


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    generator: torch.nn.Module,
    train_config: DictConfig,
    state: TrainingState,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    keep_last: int = 3,
) -> Path:
    """Write a complete checkpoint atomically, then prune all but the newest ``keep_last``.

    ``generator`` must provide ``save_pretrained(directory)``. Returns the final checkpoint directory.
    """
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(step)
    tmp = root / (checkpoint_name(step) + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        generator.save_pretrained(tmp)
        (tmp / "train_config.yaml").write_text(OmegaConf.to_yaml(train_config, resolve=True))
        save_file({k: v.detach().cpu().contiguous() for k, v in (extra_tensors or {}).items()},
                  str(tmp / "extra.safetensors"))
        torch.save(
            {"step": state.step, "optimizer": state.optimizer, "scheduler": state.scheduler,
             "rng": state.rng, "counters": state.counters},
            tmp / "trainer_state.pt",
        )
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        if final.exists():  # re-saving the same step (e.g. SIGTERM right after a periodic save)
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_directory(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(run_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("saved checkpoint %s", final)
    return final


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


def load_training_state(checkpoint: Path) -> tuple[TrainingState, dict[str, torch.Tensor]]:
    """Read the trainer state and extra tensors; a corrupt or foreign file raises ``CheckpointError``."""
    try:
        raw = torch.load(checkpoint / "trainer_state.pt", map_location="cpu", weights_only=True)
        extra = load_file(str(checkpoint / "extra.safetensors"))
    except FileNotFoundError as err:
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} has no trainer state: {err}") from err
    except Exception as err:  # truncated zip, bad header, pickled objects refused by weights_only
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} is corrupt or not an atom checkpoint: {err}") from err
    expected = {"step", "optimizer", "scheduler", "rng", "counters"}
    if not isinstance(raw, dict) or set(raw) != expected:
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} is not an atom trainer state (found {keys})")
    return TrainingState(**raw), extra
