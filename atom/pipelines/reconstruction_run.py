"""Six view images + six CCM images -> an output folder with a textured mesh, previews, ``index.html`` and
``summary.json``: what ``python -m atom.reconstruct`` runs (``run_reconstruction(cfg)`` with an
``atom.config.ReconstructConfig``).

Every input is checked before any file is written: settings, output folder, both image sets (layout, count,
size, alpha; :mod:`atom.pipelines.crm_inputs`), the checkpoint (a reconstruction model) and the tile size it
takes. Then the views go through the model once, the FlexiCubes mesh is cleaned up, colored and exported by
the same :class:`~atom.pipelines.inference.MeshWriter` as text-to-mesh inference (UV texture baked from the
color head by default), and previewed.

Layout of the output folder::

    mesh.glb                      the mesh (glb | obj + mtl + png | ply), +Y up as glTF
    previews/inputs.png           the six views (top row) and six CCMs (bottom row), CRM_VIEW_NAMES order
    previews/mesh.png, mesh.gif   turntable renders of the mesh
    index.html, summary.json      the page and the run's record (timings in seconds)
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from atom.config import ImageToMeshConfig, ReconstructConfig, TextureMode
from atom.geometry import Mesh
from atom.model import resolve_checkpoint
from atom.pipelines.crm_inputs import check_strip_order, fit_tile_size, read_views
from atom.pipelines.index_page import write_index
from atom.pipelines.inference import (
    SUMMARY_NAME,
    ColorField,
    InferenceError,
    MeshWriter,
    output_dir,
    output_problems,
    run_device,
    timer,
)
from atom.pipelines.reconstruction import ReconstructionPipeline, check_view_tensors
from atom.render.crm_views import CRM_VIEW_NAMES
from atom.render.images import image_grid
from atom.tables import markdown_table

logger = logging.getLogger(__name__)
MESH_STEM = "mesh"
TEXTURED_FORMATS = ("glb", "obj")
STAGES = ("read", "load", "network", "extract", "write")


def check_settings(cfg: ReconstructConfig | ImageToMeshConfig) -> None:
    """Numbers and combinations Hydra's types cannot check (the grid and output settings both commands share)."""
    problems = []
    if cfg.grid_resolution is not None and cfg.grid_resolution < 2:
        problems.append(f"grid_resolution must be >= 2 or null (the model's), got {cfg.grid_resolution}")
    if cfg.export.texture is TextureMode.uv and cfg.export.format.value not in TEXTURED_FORMATS:
        problems.append(f"export.texture=uv needs export.format=glb or obj (a UV-textured mesh), got "
                        f"{cfg.export.format.value}")
    problems += output_problems(cfg.export, cfg.postprocess, cfg.preview)
    if problems:
        raise InferenceError("; ".join(problems))


def read_inputs(cfg: ReconstructConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The views and CCMs of ``cfg`` as read, ``[6, 3, S, S]`` each in [0, 1] (CRM_VIEW_NAMES order)."""
    order = check_strip_order(cfg.strip_order)
    return read_views(cfg.views, order), read_views(cfg.ccm, order)


def fit_inputs(cfg: ReconstructConfig, views: torch.Tensor, ccm: torch.Tensor,
               tile_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Views and CCMs ``[6, 3, S, S]`` -> ``[1, 6, 3, T, T]`` at the model's ``tile_size`` T (resized only with
    ``cfg.resize``)."""
    views = fit_tile_size(views, tile_size, cfg.resize, f"views={cfg.views!r}")
    ccm = fit_tile_size(ccm, tile_size, cfg.resize, f"ccm={cfg.ccm!r}", nearest=True)
    return check_view_tensors(views, ccm, tile_size)


def run_reconstruction(cfg: ReconstructConfig) -> dict:
    """Check every input, reconstruct the mesh, export and preview it into the output folder. Returns the
    summary (also ``summary.json``).

    Raises:
        InferenceError: bad settings or an existing non-empty output folder without ``overwrite``.
        ViewInputError: views or CCMs of the wrong layout, count, size or range, or unreadable images.
        CheckpointError: a missing checkpoint, or one that is not a reconstruction model.
    """
    started, now = time.perf_counter(), datetime.datetime.now()
    timing: dict[str, float] = {}
    check_settings(cfg)
    device = run_device(cfg.device)
    out_dir = output_dir(cfg.out_dir, cfg.overwrite, now, root="outputs/reconstruct")
    with tqdm(total=len(STAGES), desc="reconstruct", unit="stage", disable=not cfg.progress,
              dynamic_ncols=True, postfix="read") as bar:
        with timer(timing, "read_s"):  # format errors first: reading is cheaper than loading the model
            views, ccm = read_inputs(cfg)
        advance_stage(bar, "load")
        with timer(timing, "load_s"):
            checkpoint = resolve_checkpoint(cfg.ckpt)
            pipeline = ReconstructionPipeline.from_pretrained(checkpoint, device=device)
            views, ccm = fit_inputs(cfg, views, ccm, pipeline.tile_size)
        advance_stage(bar, "network")
        out_dir.mkdir(parents=True, exist_ok=True)
        generator = torch.Generator(device).manual_seed(cfg.seed)
        with timer(timing, "network_s"):
            triplanes = pipeline.triplanes(views, ccm, generator)
        advance_stage(bar, "extract")
        with timer(timing, "extract_s"):
            mesh = pipeline.meshes(triplanes, cfg.grid_resolution)[0]
        advance_stage(bar, "write")
        with timer(timing, "write_s"):  # clean-up, colors, UV baking, export and previews
            record = write_reconstruction(cfg, mesh, pipeline.color_field(triplanes[0]), views[0], ccm[0], out_dir)
        bar.update(1)
    if record["status"] != "ok":
        logger.warning("the reconstruction is empty: no surface crosses the grid; nothing exported")
    timing["total_s"] = time.perf_counter() - started
    summary = {
        "checkpoint": str(checkpoint), "created": now.isoformat(timespec="seconds"), "out_dir": str(out_dir),
        "device": str(pipeline.device), "tile_size": pipeline.tile_size,
        "grid_resolution": cfg.grid_resolution or pipeline.model.config.grid_resolution, "seed": cfg.seed,
        "inputs": {"views": cfg.views, "ccm": cfg.ccm, "strip_order": list(cfg.strip_order),
                   "view_order": list(CRM_VIEW_NAMES), "resize": cfg.resize},
        "export": OmegaConf.to_container(OmegaConf.structured(cfg.export), enum_to_str=True),
        "postprocess": OmegaConf.to_container(OmegaConf.structured(cfg.postprocess), enum_to_str=True),
        "objects": [{"index": 0, "name": Path(cfg.views).name, **record}],
        "timing": {key: round(value, 3) for key, value in timing.items()},
    }
    (out_dir / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_index(out_dir, summary)
    return summary


def write_reconstruction(cfg: ReconstructConfig | ImageToMeshConfig, mesh: Mesh, color_field: ColorField,
                         views: torch.Tensor, ccm: torch.Tensor, out_dir: Path) -> dict:
    """Clean up, color, export (``mesh.<format>``, UV-textured by default) and preview one reconstructed mesh,
    with ``previews/inputs.png`` of its views and CCMs ``[6, 3, S, S]``; returns its summary record."""
    writer = MeshWriter(cfg.export, cfg.postprocess, cfg.preview, out_dir)
    record, _ = writer.process(mesh, color_field, MESH_STEM, "", True)
    if cfg.preview.enabled:
        record["input_preview"] = save_inputs_preview(views, ccm, out_dir)
    return record


def advance_stage(bar: tqdm, stage: str) -> None:
    """One stage done: move the progress bar and name the next stage."""
    bar.update(1)
    bar.set_postfix_str(stage)


def save_inputs_preview(views: torch.Tensor, ccm: torch.Tensor, out_dir: Path) -> str:
    """``previews/inputs.png``: views ``[6, 3, S, S]`` on the top row, CCMs below; returns its relative path."""
    path = out_dir / "previews" / "inputs.png"
    path.parent.mkdir(exist_ok=True)
    image_grid(torch.cat([views, ccm]).cpu(), rows=2).save(path)
    return path.relative_to(out_dir).as_posix()


def reconstruction_table(summary: dict) -> str:
    """The run as a table (one row per object) and its timings."""
    rows = [(r["index"], r["name"], r["status"], r["faces"], r["vertices"], r.get("mesh", "-"))
            for r in summary["objects"]]
    times = ", ".join(f"{key.removesuffix('_s')} {value:.2f} s" for key, value in summary["timing"].items())
    return (markdown_table(("#", "input", "status", "faces", "vertices", "file"), rows)
            + f"\n\ngrid {summary['grid_resolution']}, tile {summary['tile_size']} px, {summary['device']}; {times}")

