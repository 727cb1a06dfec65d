"""Held-out evaluation of the whole image-to-mesh chain in the toy world (issue 12, item 5).

Each held-out posed object (:func:`atom.toyworld.crm_data.held_out_objects`: the Toy64 diagonal pairs, unseen
colors, unseen yaws) is photographed once from the multi-view models' input camera
(:func:`atom.toyworld.multiview_data.held_out_examples`: CRM's front azimuth, an elevation drawn once from a
fixed seed) and the picture runs through :class:`~atom.pipelines.ImageToMeshPipeline`: six generated views,
their generated CCMs, the reconstructed mesh. Scores per object:

- the mesh against the posed ground truth, as :func:`atom.evaluation.reconstruction.object_metrics` scores a
  reconstruction from true inputs: Chamfer-L1, F@0.05, volume IoU, color error, genus of the largest
  component, PSNR/SSIM of unlit renders from novel cameras;
- 3D R@1 among the held-out objects: is the mesh nearest to its own truth among all of them, by shape
  (Chamfer-L1 of surface samples), color (mean absolute difference of the sampled colors) or both (each
  divided by its row's median, then summed; :func:`atom.toyworld.metrics.rank1_hits`);
- the six generated views and CCMs against the true ones: PSNR and SSIM of the six side by side
  (:func:`atom.toyworld.multiview_check.score_images`); with several samples per picture, those of the first.

All objects go through the pipeline as one batch with one seeded generator; the seconds per object are that
batch's wall time divided by the objects.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import Tensor

from atom.evaluation.reconstruction import GT_RESOLUTION, object_metrics
from atom.geometry import Mesh
from atom.pipelines.image_to_mesh import ImageToMeshPipeline
from atom.render.fragments import Rasterizer
from atom.tables import markdown_table
from atom.toyworld.crm_data import PosedObject
from atom.toyworld.metrics import RANK_MODES, rank1_hits, sample_surface, surface_distances
from atom.toyworld.multiview_check import score_images
from atom.toyworld.multiview_data import held_out_examples

RANK_POINTS = 2048
MEANS = ("chamfer_l1", "f_score", "volume_iou", "color_error", "psnr", "ssim", "r1_shape", "r1_color", "r1_both")
MEDIANS = ("view_psnr", "view_ssim", "ccm_psnr", "ccm_ssim")


def held_out_distances(meshes: Sequence[Mesh], objects: Sequence[PosedObject],
                       n_points: int = RANK_POINTS, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(shape [P, G], color [P, G])`` of each mesh against each posed object's truth
    (:func:`atom.toyworld.metrics.surface_distances`; truth samples seeded ``seed + 1``, as Toy64's R@1)."""
    truths = [sample_surface(obj.mesh(GT_RESOLUTION), n_points, torch.Generator().manual_seed(seed + 1))[0]
              for obj in objects]
    rgb = torch.tensor([obj.color for obj in objects], dtype=torch.float32)
    return surface_distances(meshes, truths, rgb, n_points, seed)


@torch.no_grad()
def evaluate_image_to_mesh(pipeline: ImageToMeshPipeline, rasterizer: Rasterizer, *,
                           num_inference_steps: int | None = None, guidance_scale: float | None = None,
                           seed: int = 0, views: int = 4, resolution: int = 64, mesh_resolution: int = 32) -> dict:
    """Run the held-out pictures through ``pipeline`` and score everything (module docstring). Returns
    ``{"per_object": [...], "summary": {category: {...}, "all": {...}}, "tori_with_hole": "k/n",
    "seconds_per_object": s, "settings": {...}}`` (JSON-ready)."""
    examples = held_out_examples(pipeline.input_size, pipeline.tile_size, rasterizer, mesh_resolution)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    output = pipeline(examples.inputs, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                      generator=generator)
    seconds = (time.perf_counter() - started) / len(examples.objects)
    meshes = [mesh.detach().to("cpu") for mesh in output.meshes]
    first = slice(None, None, output.num_samples)  # the first sample of each picture
    view_scores = score_images(output.views[first].cpu(), examples.views)
    ccm_scores = score_images(output.ccms[first].cpu(), examples.ccms)
    shape, color = held_out_distances(meshes, examples.objects)
    targets = list(range(len(examples.objects)))
    hits = {mode: rank1_hits(shape, color, targets, mode) for mode in RANK_MODES}
    rows = []
    for index, (mesh, obj) in enumerate(zip(meshes, examples.objects, strict=True)):
        row = object_metrics(mesh, obj, rasterizer, views, resolution)
        row.update({f"r1_{mode}": hits[mode][index] for mode in RANK_MODES})
        row.update(view_psnr=float(view_scores.psnr[index]), view_ssim=float(view_scores.ssim[index]),
                   ccm_psnr=float(ccm_scores.psnr[index]), ccm_ssim=float(ccm_scores.ssim[index]))
        rows.append(row)
    categories = list(dict.fromkeys(row["category"] for row in rows))
    summary = {name: _summarise([row for row in rows if row["category"] == name]) for name in categories}
    summary["all"] = _summarise(rows)
    tori = [row for row in rows if row["shape"] == "torus"]
    holes = sum(1 for row in tori if row["genus"] is not None and row["genus"] >= 1)
    settings = {"num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale,
                "num_samples": output.num_samples, "seed": seed,
                "novel_views": views, "resolution": resolution, "mesh_resolution": mesh_resolution}
    return {"per_object": rows, "summary": summary, "tori_with_hole": f"{holes}/{len(tori)}",
            "seconds_per_object": seconds, "settings": settings}


def _summarise(rows: list[dict]) -> dict:
    """Means of the 3D metrics and R@1, medians of the image scores (as the multi-view check reports them)."""
    out: dict = {"count": len(rows), "empty": sum(bool(row["empty"]) for row in rows)}
    for key in MEANS:
        out[key] = statistics.fmean(float(row[key]) for row in rows)
    for key in MEDIANS:
        out[key] = statistics.median(row[key] for row in rows)
    return out


_COLUMNS = (("count", "n", "{}"), ("empty", "empty", "{}"), ("f_score", "F@0.05 ↑", "{:.3f}"),
            ("volume_iou", "IoU ↑", "{:.3f}"), ("color_error", "color err ↓", "{:.3f}"),
            ("r1_shape", "R@1 shape ↑", "{:.3f}"), ("r1_color", "R@1 color ↑", "{:.3f}"),
            ("r1_both", "R@1 both ↑", "{:.3f}"), ("view_psnr", "views PSNR ↑", "{:.2f}"),
            ("view_ssim", "views SSIM ↑", "{:.3f}"), ("ccm_psnr", "CCMs PSNR ↑", "{:.2f}"),
            ("psnr", "novel-view PSNR ↑", "{:.2f}"))


def format_image_to_mesh_table(results: dict, per_object: bool = False) -> str:
    """A Markdown table of :func:`evaluate_image_to_mesh`'s results (image PSNR/SSIM: medians)."""
    header = ["held out", *(title for _, title, _ in _COLUMNS)]
    rows = [[name, *(fmt.format(values[key]) for key, _, fmt in _COLUMNS)]
            for name, values in results["summary"].items()]
    if per_object:
        for row in results["per_object"]:
            cells = {**row, "count": 1, "empty": int(row["empty"])}
            rows.append([f"{row['object']} ({row['category']}, genus {row['genus']})",
                         *(fmt.format(float(cells[key])) if key not in ("count", "empty") else str(cells[key])
                           for key, _, fmt in _COLUMNS)])
    table = markdown_table(header, rows, max_width=80)
    return (f"{table}\n\ntori with a hole (genus >= 1): {results['tori_with_hole']}; "
            f"{results['seconds_per_object']:.2f} s per object (batch of {len(results['per_object'])})")
