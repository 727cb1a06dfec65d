"""Where training metrics, render grids and meshes go: wandb (offline by default), a JSONL file, or nowhere.

The trainer always writes its render grids (PNG) and meshes (GLB) into the run directory; a logger adds them
to its dashboard. Only rank 0 creates a logger.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
from pathlib import Path
from typing import Protocol

from atom.config import LoggerConfig, LoggerKind

logger = logging.getLogger(__name__)


class RunLogger(Protocol):
    def log_scalars(self, metrics: dict[str, float], step: int) -> None: ...

    def log_image(self, key: str, path: Path, step: int, caption: str = "") -> None: ...

    def log_meshes(self, key: str, paths: list[Path], step: int) -> None: ...

    def log_table(self, key: str, columns: list[str], rows: list[list], step: int) -> None: ...

    def finish(self) -> None: ...


class NullLogger:
    def log_scalars(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_image(self, key: str, path: Path, step: int, caption: str = "") -> None:
        pass

    def log_meshes(self, key: str, paths: list[Path], step: int) -> None:
        pass

    def log_table(self, key: str, columns: list[str], rows: list[list], step: int) -> None:
        pass

    def finish(self) -> None:
        pass


class JSONLLogger:
    """One JSON object per line in ``<run>/metrics.jsonl``: scalars, and the paths of images and meshes."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self._file = open(self.path, "a", buffering=1)

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")

    def log_scalars(self, metrics: dict[str, float], step: int) -> None:
        self._write({"step": step, **{k: (v if math.isfinite(v) else str(v)) for k, v in metrics.items()}})

    def log_image(self, key: str, path: Path, step: int, caption: str = "") -> None:
        self._write({"step": step, key: str(path), "caption": caption})

    def log_meshes(self, key: str, paths: list[Path], step: int) -> None:
        self._write({"step": step, key: [str(p) for p in paths]})

    def log_table(self, key: str, columns: list[str], rows: list[list], step: int) -> None:
        self._write({"step": step, key: {"columns": columns, "rows": rows}})

    def finish(self) -> None:
        self._file.close()


class WandbLogger:
    """wandb run in ``<run>/wandb``; ``mode=offline`` (default) writes ``wandb/offline-run-*`` to sync later."""

    def __init__(self, cfg: LoggerConfig, run_dir: Path, config: dict) -> None:
        import wandb

        self._wandb = wandb
        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(
            project=cfg.project, entity=cfg.entity, name=cfg.name, tags=list(cfg.tags), mode=cfg.mode,
            dir=str(run_dir), config=config, resume="allow", id=_run_id(run_dir),
        )
        logger.info("wandb run %s (mode=%s) in %s", self.run.id, cfg.mode, run_dir)

    def log_scalars(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def log_image(self, key: str, path: Path, step: int, caption: str = "") -> None:
        self.run.log({key: self._wandb.Image(str(path), caption=caption)}, step=step)

    def log_meshes(self, key: str, paths: list[Path], step: int) -> None:
        self.run.log({key: [self._wandb.Object3D(str(p)) for p in paths]}, step=step)

    def log_table(self, key: str, columns: list[str], rows: list[list], step: int) -> None:
        self.run.log({key: self._wandb.Table(columns=columns, data=rows)}, step=step)

    def finish(self) -> None:
        self.run.finish()


def _run_id(run_dir: Path) -> str:
    """A stable wandb id per run directory, so a resumed run continues the same dashboard."""
    id_file = Path(run_dir) / "wandb_id.txt"
    if id_file.exists():
        return id_file.read_text().strip()
    run_id = secrets.token_hex(4)  # wandb ids: short, lowercase alphanumeric
    id_file.write_text(run_id)
    return run_id


def build_logger(cfg: LoggerConfig, run_dir: Path, config: dict) -> RunLogger:
    kind = LoggerKind(cfg.kind)
    if kind is LoggerKind.wandb and cfg.mode != "disabled":
        return WandbLogger(cfg, run_dir, config)
    if kind is LoggerKind.jsonl:
        return JSONLLogger(run_dir)
    return NullLogger()
