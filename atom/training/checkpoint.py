"""Checkpoints that survive kills and disk-full errors, and that inference can open with only their path.

The layout of one checkpoint and the code that finds and validates one for reading live in
``atom.model.checkpoints`` (inference needs them without the training room); ``trainer_state.pt`` holds
plain tensors and containers only, read back with ``torch.load(weights_only=True)``.

A checkpoint is written into ``step_XXXXXXX.tmp``; once every file is flushed, its manifest (size and
SHA-256 of each file, ``atom.manifest.write_manifest``, itself written atomically) is written last, then the
directory is renamed into place. A reader only ever sees complete checkpoints that carry a manifest, and
``atom.model.checkpoints.verify_checkpoint`` finds any later truncation or flipped byte. If the write fails
(disk full), the temporary directory is removed and the previous checkpoints are untouched.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file

from atom.manifest import write_manifest
from atom.model.checkpoints import CHECKPOINT_DIR, CheckpointError, checkpoint_name, list_checkpoints

logger = logging.getLogger(__name__)


@dataclass
class TrainingState:
    """Everything besides the weights that a resumed run needs to continue bit-for-bit."""

    step: int
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, torch.Tensor]
    counters: dict[str, int]
    scaler: dict[str, Any] = field(default_factory=dict)  # fp16's GradScaler state (empty otherwise)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    train_config: Any,
    state: TrainingState,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    keep_last: int = 3,
) -> Path:
    """Write a complete checkpoint atomically, then prune all but the newest ``keep_last``.

    ``model`` must provide ``save_pretrained(directory)``; ``train_config`` is the run's config (a
    dataclass instance or an OmegaConf node). Returns the final checkpoint directory.
    """
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(step)
    tmp = root / (checkpoint_name(step) + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        model.save_pretrained(tmp)
        (tmp / "train_config.yaml").write_text(OmegaConf.to_yaml(train_config, resolve=True))
        save_file({k: v.detach().cpu().contiguous() for k, v in (extra_tensors or {}).items()},
                  str(tmp / "extra.safetensors"))
        torch.save(
            {"step": state.step, "optimizer": state.optimizer, "scheduler": state.scheduler,
             "rng": state.rng, "counters": state.counters, "scaler": state.scaler},
            tmp / "trainer_state.pt",
        )
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        write_manifest(tmp)  # last: a directory with a manifest is complete
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
    if not isinstance(raw, dict) or set(raw) - {"scaler"} != expected:
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} is not an atom trainer state (found {keys})")
    return TrainingState(**raw), extra
