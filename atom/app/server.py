"""Start the demo: output folder, offline settings, the model (or the reason it did not load), the server.

Gradio reads its temporary folder from ``GRADIO_TEMP_DIR`` when it is first imported, so
``prepare_environment`` runs before anything imports gradio; everything the app writes then lies under
``out_dir``: ``meshes/`` and ``images/`` (the app's files) and ``gradio/`` (Gradio's copies of them and the
uploaded pictures, served to the page).
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
from pathlib import Path

from atom.config import AppConfig

logger = logging.getLogger(__name__)
GRADIO_DIR = "gradio"


def output_dir(out_dir: str | None, now: datetime.datetime) -> Path:
    """``out_dir`` or ``outputs/app/<date_time>``, created (an existing folder is reused: files are new)."""
    path = Path(out_dir).expanduser() if out_dir else Path("outputs/app") / now.strftime("%Y-%m-%d_%H-%M-%S")
    if path.exists() and not path.is_dir():
        raise ValueError(f"out_dir={str(path)!r} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def prepare_environment(out_dir: Path) -> None:
    """Gradio's temporary folder under ``out_dir``; no usage analytics and no version check (both call out).

    Must run before gradio is imported; raises ``RuntimeError`` otherwise, as the temporary folder would
    silently be elsewhere."""
    if "gradio" in sys.modules and os.environ.get("GRADIO_TEMP_DIR") != str(out_dir / GRADIO_DIR):
        raise RuntimeError("prepare_environment must run before gradio is imported (GRADIO_TEMP_DIR is read then)")
    os.environ["GRADIO_TEMP_DIR"] = str(out_dir / GRADIO_DIR)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def open_service(cfg: AppConfig, out_dir: Path):
    """The text-to-mesh service, or ``None`` and the reason (shown in the page) when it cannot load."""
    from atom.app.backend import TextToMeshService
    from atom.build import resolve_device

    try:
        service = TextToMeshService.from_checkpoint(
            cfg.ckpt, resolve_device(cfg.device), out_dir, texture_resolution=cfg.texture_resolution,
            max_grid_resolution=cfg.max_grid_resolution, max_interpolation_meshes=cfg.max_interpolation_meshes)
    except Exception as err:  # CheckpointError, a bad device, a text encoder that cannot be built
        logger.error("could not load ckpt=%s: %s", cfg.ckpt, err)
        return None, f"{type(err).__name__}: {err}"
    logger.info("loaded %s", service.description)
    return service, None


def serve(cfg: AppConfig, block: bool = True):
    """Build and launch the app on ``cfg.host:cfg.port``; with ``block=False`` return ``(demo, url)`` at once
    (``demo.close()`` stops it)."""
    if cfg.grid_resolution > cfg.max_grid_resolution:
        raise ValueError(f"grid_resolution={cfg.grid_resolution} is above max_grid_resolution="
                         f"{cfg.max_grid_resolution}")
    out_dir = output_dir(cfg.out_dir, datetime.datetime.now())
    prepare_environment(out_dir)
    from atom.app.backend import example_prompts
    from atom.app.image_to_mesh import open_image_to_mesh
    from atom.app.ui import build_demo, launch

    service, error = open_service(cfg, out_dir)
    examples = example_prompts(service.checkpoint) if service is not None else None
    image = open_image_to_mesh(cfg.image_ckpt, cfg.device, out_dir, cfg.texture_resolution, cfg.max_grid_resolution)
    demo = build_demo(service, error, examples, cfg, image)
    _, url, _ = launch(demo, cfg, out_dir, block=block)
    return demo, url
