"""Held-out evaluation of CRM's reconstruction model in the toy world (issue 11, item 6).

Each held-out object (:func:`atom.toyworld.crm_data.held_out_objects`) is rendered into its six views + CCMs
(ground truth), reconstructed into a FlexiCubes mesh (eval mode: no input-noise randomness beyond a fixed
seed, colors clamped) and compared with its posed ground truth:

- 3D, with the toy world's metrics (:mod:`atom.toyworld.metrics`): Chamfer-L1 and F@0.05 on area-weighted
  surface samples, volume IoU against the object's exact SDF, color error against its RGB;
- topology: the genus of the largest connected component, from its Euler characteristic
  ``V - E + F = 2 - 2 g`` after welding coincident vertices (a torus must have ``g >= 1``: a hole);
- images: PSNR and SSIM (:mod:`atom.evaluation.image_metrics`) of unlit renders from ``views`` novel
  perspective cameras (a turntable at elevation 20 degrees, offset half a step from azimuth 0).

LPIPS is not computed: no LPIPS weights are available offline (reported as "-").
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch

from atom.evaluation.image_metrics import psnr, ssim
from atom.geometry import Mesh
from atom.model.reconstruction import ReconstructionModel
from atom.render.cameras import Cameras, turntable
from atom.render.fragments import Rasterizer
from atom.tables import markdown_table
from atom.toyworld.crm_data import PosedObject, render_albedo_views, render_unet_inputs
from atom.toyworld.metrics import (
    EMPTY_CHAMFER,
    EMPTY_COLOR_ERROR,
    chamfer_l1,
    color_error,
    f_score,
    sample_surface,
    volume_iou,
)
from atom.toyworld.shapes import SHAPES

GT_RESOLUTION = 96
NOISE_SEED = 0
METRICS = ("chamfer_l1", "f_score", "volume_iou", "color_error", "psnr", "ssim")


def largest_component_genus(mesh: Mesh) -> int | None:
    """Genus of the largest connected component (by faces) of ``mesh`` after welding its vertices; None
    for an empty mesh. ``g = (2 - chi) / 2`` with ``chi = V - E + F`` (exact for a closed orientable surface)."""
    if mesh.is_empty:
        return None
    tm = mesh.to_trimesh()
    tm.merge_vertices()
    parts = tm.split(only_watertight=False)
    largest = max(parts, key=lambda part: len(part.faces)) if len(parts) else tm
    return round((2 - largest.euler_number) / 2)


def novel_cameras(views: int) -> Cameras:
    """``views`` perspective cameras on a turntable at elevation 20, half a step off the canonical azimuths."""
    cameras = turntable(views, elevation=20.0, distance=3.0, fov=40.0)
    cameras.azimuth = cameras.azimuth + 180.0 / views
    return cameras


@torch.no_grad()
def reconstruct(
    model: ReconstructionModel, objects: Sequence[PosedObject], rasterizer: Rasterizer, mesh_resolution: int,
    grid_resolution: int | None = None,
) -> list[Mesh]:
    """One mesh per object from its ground-truth six views + CCMs (eval mode, input noise seeded)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    meshes = []
    for obj in objects:
        unet_input = render_unet_inputs([obj], model.config.tile_size, mesh_resolution, rasterizer).to(device)
        triplane = model(unet_input, generator=torch.Generator(device=device).manual_seed(NOISE_SEED))
        meshes.append(model.extract_meshes(triplane, grid_resolution)[0].detach().to("cpu"))
    model.train(was_training)
    return meshes


def object_metrics(mesh: Mesh, obj: PosedObject, rasterizer: Rasterizer, views: int, resolution: int,
                   n_points: int = 10_000, iou_resolution: int = 64) -> dict:
    """The metrics of one reconstruction (module docstring)."""
    cameras = novel_cameras(views)
    target = render_albedo_views(obj.mesh(GT_RESOLUTION), cameras, resolution, rasterizer)
    prediction = render_albedo_views(mesh if not mesh.is_empty else _empty_colored(), cameras, resolution,
                                     rasterizer)
    row = {
        "object": obj.name, "category": obj.category, "shape": SHAPES[obj.shape].name, "empty": mesh.is_empty,
        "psnr": float(psnr(prediction.rgb.clamp(0, 1), target.rgb).mean()),
        "ssim": float(ssim(prediction.rgb.clamp(0, 1), target.rgb).mean()),
        "genus": largest_component_genus(mesh),
    }
    if mesh.is_empty:
        return {**row, "chamfer_l1": EMPTY_CHAMFER, "f_score": 0.0, "volume_iou": 0.0,
                "color_error": EMPTY_COLOR_ERROR}
    generator = torch.Generator().manual_seed(0)
    points, _ = sample_surface(mesh, n_points, generator)
    gt_points, _ = sample_surface(obj.mesh(GT_RESOLUTION), n_points, generator)
    return {
        **row,
        "chamfer_l1": chamfer_l1(points, gt_points),
        "f_score": f_score(points, gt_points, 0.05),
        "volume_iou": volume_iou(mesh, obj.sdf, iou_resolution),
        "color_error": color_error(mesh, obj.color),
    }


def _empty_colored() -> Mesh:
    return Mesh(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, 3))


def evaluate_reconstruction(
    model: ReconstructionModel, objects: Sequence[PosedObject], rasterizer: Rasterizer, mesh_resolution: int,
    views: int = 4, resolution: int = 64, grid_resolution: int | None = None,
) -> dict:
    """Reconstruct and score every object; returns ``{"per_object": [...], "summary": {category: {...}},
    "tori_with_hole": "k/n"}`` (JSON-ready; summary "all" over every object)."""
    meshes = reconstruct(model, objects, rasterizer, mesh_resolution, grid_resolution)
    rows = [object_metrics(mesh, obj, rasterizer, views, resolution) for mesh, obj in zip(meshes, objects)]
    categories = list(dict.fromkeys(row["category"] for row in rows))
    summary = {name: _summarise([r for r in rows if r["category"] == name]) for name in categories}
    summary["all"] = _summarise(rows)
    tori = [row for row in rows if row["shape"] == "torus"]
    holes = sum(1 for row in tori if row["genus"] is not None and row["genus"] >= 1)
    return {"per_object": rows, "summary": summary, "tori_with_hole": f"{holes}/{len(tori)}"}


def _summarise(rows: list[dict]) -> dict:
    out: dict = {"count": len(rows), "empty": sum(bool(row["empty"]) for row in rows)}
    for key in METRICS:
        out[key] = statistics.fmean(row[key] for row in rows) if rows else None
    return out


_COLUMNS = (("count", "n", "{}"), ("empty", "empty", "{}"), ("chamfer_l1", "Chamfer-L1 ↓", "{:.4f}"),
            ("f_score", "F@0.05 ↑", "{:.3f}"), ("volume_iou", "IoU ↑", "{:.3f}"),
            ("color_error", "color err ↓", "{:.3f}"), ("psnr", "PSNR ↑", "{:.2f}"), ("ssim", "SSIM ↑", "{:.3f}"))


def format_reconstruction_table(results: dict, per_object: bool = False) -> str:
    """A Markdown table of :func:`evaluate_reconstruction`'s results (LPIPS: "-", not available offline)."""
    header = ["held out", *(title for _, title, _ in _COLUMNS), "LPIPS ↓"]
    rows = [[name, *(fmt.format(values[key]) for key, _, fmt in _COLUMNS), "-"]
            for name, values in results["summary"].items()]
    if per_object:
        for row in results["per_object"]:
            cells = {**row, "count": 1, "empty": int(row["empty"])}
            rows.append([f"{row['object']} ({row['category']}, genus {row['genus']})",
                         *(fmt.format(cells[key]) for key, _, fmt in _COLUMNS), "-"])
    table = markdown_table(header, rows, max_width=80)
    return f"{table}\n\ntori with a hole (genus >= 1): {results['tori_with_hole']}"


def summary_scalars(results: dict) -> dict[str, float]:
    """Flat scalars ``{"heldout/<category>/<metric>": value}`` for loggers."""
    return {f"heldout/{name}/{key}": float(value) for name, values in results["summary"].items()
            for key, value in values.items() if value is not None}

