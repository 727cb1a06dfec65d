"""Time inference, prompt -> exported mesh, stage by stage: latency (batch 1) and throughput (batch 8).

The model has the toy sizes (``atom/conf/model/toy.yaml``) and random weights (timing does not depend
on training); the text encoder is the bundled MiniLM. Stages, as ``atom.pipelines.TextToMeshPipeline`` runs them: text
encoding (uncached: the MiniLM forward; cached: reading ``EmbeddingCache`` files), the triplane (front end),
the field queries on the tetrahedral grid (SDF at every grid vertex, deformation at the surface vertices
only; the whole-grid deformation it replaces is shown for comparison), marching tetrahedra, the color head
at the mesh vertices, and the GLB export. Prints a Markdown table of median milliseconds per batch, wall-clock
and (in parentheses) process CPU time over all threads, the steadier number on a shared machine; then the
totals per prompt. CUDA runs too when available; the header names the devices.

    python bench/bench_infer.py [--grids 64 128] [--batches 1 8] [--repeats 3] [--threads N]

On a machine shared with other work, ``--threads 1`` gives steadier numbers: torch's worker threads wait
for each other at every parallel region, so one busy core can slow a 2-thread run by 10x or more.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import OmegaConf
from timing import machine_header, median_times

from atom.config import CONF_DIR
from atom.geometry import Mesh, export_mesh, extract_mesh, tetrahedral_grid
from atom.model import TextToMeshModel, surface_deformation
from atom.text import EmbeddingCache, MiniLMTextEncoder

PROMPTS = ["a red cube", "a blue sphere", "a green cone", "a yellow torus", "a purple cylinder",
           "an orange capsule", "a white pyramid", "a black ring"]
STAGES = ["text, uncached", "text, cached", "triplane", "sdf (grid)", "deformation (surface)", "marching tets",
          "color", "export (GLB)"]
COMPARISON = "deformation (whole grid, replaced)"


def time_stages(model: TextToMeshModel, encoder: MiniLMTextEncoder, cache: EmbeddingCache, prompts: list[str],
                grid_resolution: int, device: torch.device, repeats: int,
                out_dir: Path) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) ms per batch for each stage, and the mean face count under "faces"."""
    grid = tetrahedral_grid(grid_resolution, bound=model.config.bound).to(device)
    batch = len(prompts)
    text = cache.get_or_encode(encoder, prompts).to(device)
    triplanes = model(text.tokens, text.mask)
    vertices = grid.vertices[None].expand(batch, -1, -1)
    sdf = model.sdf(triplanes, vertices)
    offsets = [surface_deformation(model, triplanes[b : b + 1], grid, sdf[b]) for b in range(batch)]
    meshes = [extract_mesh(grid, sdf[b], offsets[b]) for b in range(batch)]
    colored = [Mesh(mesh.vertices, mesh.faces, model.color(triplanes[b : b + 1], mesh.vertices[None])[0])
                for b, mesh in enumerate(meshes)]
    cpu_meshes = [mesh.to("cpu") for mesh in colored]

    def run(step: Callable[[], object]) -> tuple[float, float]:
        wall, cpu = median_times(step, repeats, device)
        return 1000 * wall, 1000 * cpu

    times = {
        "text, uncached": run(lambda: encoder.encode(prompts)),
        "text, cached": run(lambda: cache.load(encoder.identity, prompts).to(device)),
        "triplane": run(lambda: model(text.tokens, text.mask)),
        "sdf (grid)": run(lambda: model.sdf(triplanes, vertices)),
        "deformation (surface)": run(lambda: [surface_deformation(model, triplanes[b : b + 1], grid, sdf[b])
                                              for b in range(batch)]),
        COMPARISON: run(lambda: model.deformation(triplanes, vertices, grid.cell_size)),
        "marching tets": run(lambda: [extract_mesh(grid, sdf[b], offsets[b]) for b in range(batch)]),
        "color": run(lambda: [model.color(triplanes[b : b + 1], mesh.vertices[None]) for b, mesh in
                               enumerate(meshes)]),
        "export (GLB)": run(lambda: [export_mesh(mesh.to("cpu"), out_dir / f"{b}.glb") for b, mesh in
                                     enumerate(colored)]),
    }
    faces = sum(mesh.num_faces for mesh in cpu_meshes) / batch
    times["faces"] = (faces, faces)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "toy.yaml"))
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])

    columns: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch, torch.inference_mode():
        cache = EmbeddingCache(Path(scratch) / "text_cache")
        for device in devices:
            model = TextToMeshModel(**sizes).to(device).eval()
            encoder = MiniLMTextEncoder(max_length=32, device=str(device))
            for grid_resolution in args.grids:
                for batch in args.batches:
                    prompts = (PROMPTS * (batch // len(PROMPTS) + 1))[:batch]
                    name = f"{device.type} grid {grid_resolution} x{batch}"
                    columns[name] = time_stages(model, encoder, cache, prompts, grid_resolution, device,
                                                args.repeats, Path(scratch))

    names = list(columns)
    batches = {name: int(name.rsplit("x", 1)[1]) for name in names}
    print(machine_header("bench_infer: prompt -> mesh, stage by stage") + "\n")
    print(f"Model: atom/conf/model/toy.yaml sizes, random weights; text: MiniLM-L6 (max_length 32); "
          f"median of {args.repeats} after one warm-up\n")
    print("| ms per batch, wall (CPU) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for stage in [*STAGES, COMPARISON]:
        cells = [f"{columns[n][stage][0]:.0f} ({columns[n][stage][1]:.0f})" for n in names]
        print(f"| {stage} | " + " | ".join(cells) + " |")
    print("| faces per mesh | " + " | ".join(f"{columns[n]['faces'][0]:.0f}" for n in names) + " |")
    for label, text_stage in (("per prompt, text cached", "text, cached"),
                              ("per prompt, text uncached", "text, uncached")):
        cells = []
        for n in names:
            used = [s for s in STAGES if not s.startswith("text")] + [text_stage]
            wall, cpu = (sum(columns[n][s][i] for s in used) / batches[n] for i in (0, 1))
            cells.append(f"**{wall:.0f}** ({cpu:.0f})")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
