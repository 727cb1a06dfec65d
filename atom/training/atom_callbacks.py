"""What a person looks at during and after a text-to-mesh training: render grids, meshes, a prompt table,
metrics. Each is a callback (``atom.training.callbacks``) that the trainer runs on the main process.

Grids are PNG files in ``<run>/renders/`` (one row per prompt, one column per turntable view, seen prompts
first, then held-out ones); meshes are GLB files in ``<run>/meshes/``; the toy world's metrics go to
``<run>/metrics.json``. Everything is also handed to the run's logger (wandb images, Object3D, Table).

The callbacks hold the system they preview (anything with ``preview_renders`` and ``extract_meshes``, see
``MeshPreviewSource``) and its prompt set; they never see the trainer.
"""

from __future__ import annotations

import logging
from typing import Protocol

import torch

from atom.geometry import Mesh, export_mesh
from atom.prompts import PromptSet
from atom.prompts.file_names import prompt_slug
from atom.render.images import image_grid
from atom.toyworld.metrics import evaluate_to_file, format_table, summary_scalars
from atom.training.callbacks import Callback, CallbackContext

logger = logging.getLogger(__name__)


class MeshPreviewSource(Protocol):
    """What the preview callbacks need from a text-to-mesh training system."""

    def preview_renders(self, prompt_ids: list[int], step: int) -> torch.Tensor:
        """Turntable renders ``[len(prompt_ids) * views, 3, H, W]`` as training sees them after ``step``."""

    def extract_meshes(self, prompt_ids: list[int], grid_resolution: int) -> list[Mesh]:
        """One colored mesh per prompt (no gradient)."""


def spread(items: list[int], count: int) -> list[int]:
    """``count`` items evenly spaced through ``items`` (all when there are fewer): a preview of a prompt grid
    should show different rows of it, not the first few prompts of one row."""
    if count >= len(items):
        return items
    return [items[(i * len(items)) // count] for i in range(count)]


class RenderGridCallback(Callback):
    """A render grid of ``count`` seen and ``count`` held-out prompts every ``every`` steps (0: never) and at
    the end of training."""

    def __init__(self, source: MeshPreviewSource, prompts: PromptSet, every: int, count: int) -> None:
        self.source, self.prompts, self.every = source, prompts, every
        self.seen = spread(list(prompts.train), count)
        self.held_out = spread(list(prompts.test), count)

    def on_step_end(self, context: CallbackContext) -> None:
        if self.every > 0 and context.step % self.every == 0:
            self.write(context)

    def on_train_end(self, context: CallbackContext) -> dict:
        return self.write(context)

    def write(self, context: CallbackContext) -> dict:
        chosen = self.seen + self.held_out
        renders = self.source.preview_renders(chosen, context.step)
        out_dir = context.run_dir / "renders"
        out_dir.mkdir(exist_ok=True)
        grid_path = out_dir / f"step_{context.step:07d}.png"
        image_grid(renders, rows=len(chosen)).save(grid_path)
        caption = " | ".join(("seen: " if i in self.seen else "held out: ") + self.prompts.prompts[i] for i in chosen)
        context.logger.log_image("renders", grid_path, context.step, caption=caption)
        return {"render_grid": str(grid_path)}


class MeshExportCallback(Callback):
    """At the end: every prompt (seen and held out) -> ``<run>/meshes/<slug>.glb`` and a prompt table."""

    def __init__(self, source: MeshPreviewSource, prompts: PromptSet, grid_resolution: int, log_count: int) -> None:
        self.source, self.prompts = source, prompts
        self.grid_resolution, self.log_count = grid_resolution, log_count

    def on_train_end(self, context: CallbackContext) -> dict:
        mesh_dir = context.run_dir / "meshes"
        mesh_dir.mkdir(exist_ok=True)
        prompts = self.prompts.prompts
        test = set(self.prompts.test)
        meshes = self.source.extract_meshes(list(range(len(prompts))), self.grid_resolution)
        rows, paths, empty = [], [], []
        for i, (prompt, mesh) in enumerate(zip(prompts, meshes, strict=True)):
            split = "held out" if i in test else "seen"
            if mesh.is_empty:
                empty.append(prompt)
                rows.append([prompt, split, 0, 0, ""])
                continue
            path = export_mesh(mesh.detach().to("cpu"), mesh_dir / f"{prompt_slug(prompt, i)}.glb")
            paths.append(path)
            rows.append([prompt, split, mesh.num_vertices, mesh.num_faces, str(path.name)])
        context.logger.log_table("prompts", ["prompt", "split", "vertices", "faces", "file"], rows, context.step)
        context.logger.log_meshes("meshes", paths[: self.log_count], context.step)
        if empty:
            logger.warning("%d prompt(s) gave an empty mesh: %s", len(empty), empty)
        return {"meshes_dir": str(mesh_dir), "meshes": len(paths), "empty_mesh_prompts": empty}


class ToyEvaluationCallback(Callback):
    """At the end: 3D metrics of every prompt's mesh against the toy world's analytic ground truth
    (``<run>/metrics.json``, eval/* scalars and a table in the summary)."""

    def __init__(self, source: MeshPreviewSource, prompts: PromptSet, grid_resolution: int) -> None:
        self.source, self.prompts, self.grid_resolution = source, prompts, grid_resolution

    def on_train_end(self, context: CallbackContext) -> dict:
        prompts = self.prompts.prompts
        meshes = self.source.extract_meshes(list(range(len(prompts))), self.grid_resolution)
        path = context.run_dir / "metrics.json"
        results = evaluate_to_file(prompts, meshes, path, unseen={prompts[i] for i in self.prompts.test})
        logger.info("toy-world evaluation written to %s", path)
        context.logger.log_scalars({f"eval/{k}": v for k, v in summary_scalars(results).items()}, context.step)
        return {"metrics": str(path), "metrics_table": format_table(results)}
