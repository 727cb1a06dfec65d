"""Text -> mesh two ways on Toy64: AToM's amortized generator against text -> image -> CRM (issue 12 item 4).

    python bench/compare_text_to_mesh.py --atom <toy64 run or checkpoint> [--models <image-to-mesh folder>]
        [--steps N] [--samples N] [--prompts 64] [--seed 0]

Route 1 (AToM): ``TextToMeshPipeline`` meshes every prompt in one forward pass per batch of 8 (grid 64, as
``atom.evaluate``).
Route 2 (images): the bundled toy prior draws ``"<prompt>, front view"`` (``sample_prompt_image``'s caption,
guidance 1.1, 50 DDIM steps), each picture goes through the user path (saved as PNG, cut out and placed by
``ImageToMeshPipeline.prepare``), then the six views, their CCMs (``--steps`` DDIM steps each, default: the
models' own; ``--samples`` samples per picture, default: the folder's) and the reconstruction, the whole batch
at once. Both sets of meshes are scored by ``atom.toyworld.metrics`` against
the analytic ground truth (R@1 shape / color / both, F@0.05), split into seen and unseen (the diagonal)
prompts. Seconds per prompt are wall time of the whole batch divided by the prompts (model loading excluded),
so they are throughput figures, not one picture's latency.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from timing import machine_header

from atom.config import TextToImageConfig, asset_path
from atom.pipelines import ImageToMeshPipeline, TextToMeshPipeline
from atom.pipelines.image_to_mesh_run import sample_prompt_images
from atom.render.images import to_pil
from atom.tables import markdown_table
from atom.toyworld.metrics import evaluate_meshes
from atom.toyworld.shapes import toy64

ATOM_BATCH = 8
ATOM_GRID = 64  # as python -m atom.evaluate scores a toy64 run


def atom_meshes(checkpoint: str, prompts: list[str]) -> tuple[list, float]:
    pipeline = TextToMeshPipeline.from_pretrained(checkpoint)
    started = time.perf_counter()
    meshes = []
    for start in range(0, len(prompts), ATOM_BATCH):
        batch = pipeline(prompts[start:start + ATOM_BATCH], grid_resolution=ATOM_GRID)
        meshes += [mesh.detach().to("cpu") for mesh in batch]
    return meshes, time.perf_counter() - started


def image_route_meshes(models: str, prompts: list[str], steps: int | None, samples: int | None,
                       seed: int) -> tuple[list, dict[str, float], str]:
    """The image route's meshes, seconds per stage and its settings in words."""
    pipeline = ImageToMeshPipeline.from_pretrained(models, num_samples=samples)
    settings = (f"{steps or pipeline.views_model.config.num_inference_steps} DDIM steps, "
                f"{pipeline.num_samples} sample(s) per picture")
    generator = torch.Generator().manual_seed(seed)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    pictures, _ = sample_prompt_images(TextToImageConfig(path=asset_path("toy_prior")), prompts, generator,
                                       torch.device("cpu"))
    seconds["text_to_image"] = time.perf_counter() - started
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        for index, picture in enumerate(pictures):
            path = Path(tmp) / f"{index:03d}.png"
            to_pil(picture).save(path)
            inputs.append(pipeline.prepare(path).image)
    seconds["preprocess"] = time.perf_counter() - started
    output = pipeline(torch.stack(inputs), num_inference_steps=steps, generator=generator)
    seconds.update(output.seconds)
    return [mesh.detach().to("cpu") for mesh in output.meshes], seconds, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atom", required=True, help="a toy64 run directory or checkpoint")
    parser.add_argument("--models", default=asset_path("toy_image_to_mesh"), help="an image-to-mesh folder")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps of each multi-view stage (default: "
                        "each model's own)")
    parser.add_argument("--samples", type=int, default=None, help="samples of the views and CCMs per picture "
                        "(default: the models folder's)")
    parser.add_argument("--prompts", type=int, default=64, help="the first N Toy64 prompts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    prompts = [obj.prompt for obj in toy64()][: args.prompts]

    results, seconds = {}, {}
    meshes, elapsed = atom_meshes(args.atom, prompts)
    results["AToM (amortized)"], seconds["AToM (amortized)"] = evaluate_meshes(prompts, meshes), elapsed
    meshes, stages, settings = image_route_meshes(args.models, prompts, args.steps, args.samples, args.seed)
    route = f"text -> image -> CRM ({settings})"
    results[route], seconds[route] = evaluate_meshes(prompts, meshes), sum(stages.values())

    print(machine_header(f"compare_text_to_mesh: {len(prompts)} Toy64 prompts, seed {args.seed}"))
    rows = []
    for name, result in results.items():
        for split in ("seen", "unseen"):
            summary = result["summary"][split]
            if summary["count"]:
                rows.append([name, split, summary["count"], f"{summary['r1_shape']:.3f}",
                             f"{summary['r1_color']:.3f}", f"{summary['r1_both']:.3f}",
                             f"{summary['f_score']:.3f}", f"{seconds[name] / len(prompts):.2f}"])
    print(markdown_table(["route", "split", "n", "R@1 shape", "R@1 color", "R@1 both", "F@0.05", "s/prompt"],
                         rows))
    print("\nimage route, seconds per stage (whole batch): "
          + ", ".join(f"{stage} {value:.1f}" for stage, value in stages.items()))


if __name__ == "__main__":
    main()
