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
    manifest.json          size and SHA-256 of every file above (``atom.manifest``), written last

Verification (``verify_checkpoint``): every file listed in the manifest must exist, have its size and its
SHA-256, so a truncated file (check ``size``) and a flipped byte inside a tensor's data that still parses
(check ``sha256``) are both refused with a ``CorruptCheckpointError`` naming the file and the check.
``resolve_checkpoint`` verifies what it returns. A checkpoint without ``manifest.json`` was written by a
version of atom before manifests (the trainer writes the manifest inside the temporary directory before
the rename, so a crash never leaves a renamed checkpoint without one): inference loads it unverified with
an info log; the trainer's ``resume=auto`` treats it as incomplete (``require_manifest=True``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from atom.manifest import ManifestError, verify_manifest

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
REQUIRED_FILES = ("model.safetensors", "config.json", "train_config.yaml", "trainer_state.pt")
_STEP_PATTERN = re.compile(r"^step_(\d{7,})$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or belongs to another kind of run."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint failed verification: ``path`` is the file that failed, ``check`` the check (``size``,
    ``sha256``, ``missing file``, ``missing manifest``, ``manifest``; see ``atom.manifest``)."""

    def __init__(self, checkpoint: Path, error: ManifestError) -> None:
        self.checkpoint = Path(checkpoint)
        self.path = error.path
        self.check = error.check
        super().__init__(f"checkpoint {str(checkpoint)!r} is corrupt or incomplete: {error}")


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


def verify_checkpoint(checkpoint: str | Path, require_manifest: bool = False) -> bool:
    """Check every file of ``checkpoint`` against its manifest; True when verified.

    Without a manifest: ``CorruptCheckpointError`` (check ``missing manifest``) if ``require_manifest``,
    else an info log and False (a checkpoint written before manifests existed loads unverified).

    Raises:
        CorruptCheckpointError: a file is missing, truncated or changed, or the manifest is unreadable.
    """
    checkpoint = Path(checkpoint)
    try:
        verify_manifest(checkpoint)
    except ManifestError as err:
        if err.check == "missing manifest" and not require_manifest:
            logger.info("checkpoint %s has no manifest (written before atom wrote manifests): loading it "
                        "unverified", checkpoint)
            return False
        raise CorruptCheckpointError(checkpoint, err) from err
    return True


def resolve_checkpoint(path: str | Path) -> Path:
    """Accept a checkpoint directory or a run directory (-> its newest checkpoint); validate the files and verify
    them against the manifest when there is one (``verify_checkpoint``).

    A run directory whose newest checkpoint fails verification is an error (naming it, the file and the check),
    not a silent fall-back to an older checkpoint: pass the older checkpoint's directory explicitly.
    """
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
    verify_checkpoint(path)
    return path
