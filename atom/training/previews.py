"""What a person looks at during and after training: render grids, GLB meshes, a prompt table, metrics.

Grids are PNG files in ``<run>/renders/`` (one row per prompt, one column per turntable view, seen prompts
first, then held-out ones); meshes are GLB files in ``<run>/meshes/``; the toy world's metrics go to
``<run>/metrics.json``. Everything is also handed to the run's logger (wandb images, Object3D, Table).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from atom.geometry import export_mesh, tetrahedral_grid
from atom.prompts.file_names import prompt_slug
from atom.render import turntable
from atom.render.images import image_grid
from atom.text_to_mesh import triplanes_to_meshes
from atom.training.stages import Views, render_stage1, render_stage2

if TYPE_CHECKING:
    from atom.training.trainer import Trainer

logger = logging.getLogger(__name__)
PREVIEW_VIEWS = 4


@torch.no_grad()
def render_prompts(trainer: Trainer, prompt_ids: list[int], stage: int) -> torch.Tensor:
    """Turntable renders ``[len(prompt_ids) * PREVIEW_VIEWS, 3, H, W]`` with the given stage's renderer."""
    cfg = trainer.cfg
    ids = torch.tensor(prompt_ids, device=trainer.device)
    text = trainer.text[ids]
    triplanes = trainer.generator(text.tokens, text.mask)
    cams = turntable(PREVIEW_VIEWS).to(trainer.device)
    cameras = cams[torch.arange(PREVIEW_VIEWS).repeat(len(prompt_ids))]
    lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
    views = Views(cameras, ["lambertian"] * len(cameras), lights,
                  torch.tensor(list(cfg.render.background), device=trainer.device), cfg.render.ambient)
    if stage == 1:
        return render_stage1(trainer.generator, triplanes, trainer.neus, views, cfg.stage1.resolution).images
    return render_stage2(trainer.generator, triplanes, trainer.grid, trainer.rasterizer, views,
                         cfg.stage2.resolution).images


def spread(items: list[int], count: int) -> list[int]:
    """``count`` items evenly spaced through ``items`` (all when there are fewer): a preview of a prompt grid
    should show different rows of it, not the first few prompts of one row."""
    if count >= len(items):
        return items
    return [items[(i * len(items)) // count] for i in range(count)]


def write_previews(trainer: Trainer, export_meshes: bool = False) -> dict:
    cfg, step = trainer.cfg, trainer.step
    trainer.generator.eval()
    seen = spread(list(trainer.prompts.train), cfg.trainer.image_prompts)
    held_out = spread(list(trainer.prompts.test), cfg.trainer.image_prompts)
    chosen = seen + held_out
    stage = trainer.stage(max(step - 1, 0))
    renders = render_prompts(trainer, chosen, stage)
    out_dir = trainer.run_dir / "renders"
    out_dir.mkdir(exist_ok=True)
    grid_path = out_dir / f"step_{step:07d}.png"
    image_grid(renders, rows=len(chosen)).save(grid_path)
    caption = " | ".join(("seen: " if i in seen else "held out: ") + trainer.prompts.prompts[i] for i in chosen)
    trainer.logger.log_image("renders", grid_path, step, caption=caption)
    result: dict = {"render_grid": str(grid_path)}
    if export_meshes:
        result.update(export_all(trainer))
    trainer.generator.train()
    return result


@torch.no_grad()
def export_all(trainer: Trainer, batch_size: int = 8) -> dict:
    """Every prompt (seen and held out) -> ``<run>/meshes/<slug>.glb``; toy-world metrics when they apply."""
    cfg = trainer.cfg
    grid = tetrahedral_grid(cfg.trainer.export_grid_resolution, bound=cfg.model.bound, device=trainer.device)
    mesh_dir = trainer.run_dir / "meshes"
    mesh_dir.mkdir(exist_ok=True)
    prompts = trainer.prompts.prompts
    test = set(trainer.prompts.test)
    meshes, rows, paths, empty = [], [], [], []
    for start in range(0, len(prompts), batch_size):
        ids = torch.arange(start, min(start + batch_size, len(prompts)), device=trainer.device)
        text = trainer.text[ids]
        meshes += triplanes_to_meshes(trainer.generator, trainer.generator(text.tokens, text.mask), grid)
    for i, (prompt, mesh) in enumerate(zip(prompts, meshes)):
        split = "held out" if i in test else "seen"
        if mesh.is_empty:
            empty.append(prompt)
            rows.append([prompt, split, 0, 0, ""])
            continue
        path = export_mesh(mesh.detach().to("cpu"), mesh_dir / f"{prompt_slug(prompt, i)}.glb")
        paths.append(path)
        rows.append([prompt, split, mesh.num_vertices, mesh.num_faces, str(path.name)])
    trainer.logger.log_table("prompts", ["prompt", "split", "vertices", "faces", "file"], rows, trainer.step)
    trainer.logger.log_meshes("meshes", paths[: 2 * cfg.trainer.image_prompts], trainer.step)
    if empty:
        logger.warning("%d prompt(s) gave an empty mesh: %s", len(empty), empty)
    result = {"meshes_dir": str(mesh_dir), "meshes": len(paths), "empty_mesh_prompts": empty}
    if cfg.trainer.evaluate_at_end and trainer.prompts.name == "toy64":
        result.update(evaluate_toy(trainer, meshes))
    return result


def evaluate_toy(trainer: Trainer, meshes: list) -> dict:
    """3D metrics against the toy world's analytic ground truth; writes ``metrics.json`` and logs a summary."""
    from atom.toyworld.metrics import evaluate_meshes, format_table, summary_scalars

    prompts = trainer.prompts.prompts
    unseen = {prompts[i] for i in trainer.prompts.test}
    results = evaluate_meshes(prompts, [m.detach().to("cpu") for m in meshes], unseen=unseen)
    (trainer.run_dir / "metrics.json").write_text(json.dumps(results, indent=2, default=_json_default))
    table = format_table(results)
    logger.info("toy-world evaluation written to %s", trainer.run_dir / "metrics.json")
    trainer.logger.log_scalars({f"eval/{k}": v for k, v in summary_scalars(results).items()}, trainer.step)
    return {"metrics": str(trainer.run_dir / "metrics.json"), "metrics_table": table}


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
