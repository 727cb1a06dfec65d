"""Time CRM's reconstruction model at the released size: tiles -> triplane -> heads on the FlexiCubes grid.

Random weights at the ``crm`` preset (118.8M parameters, 256-px tiles, grid 80) or ``toy``; a synthetic input
(the six CRM views and CCMs of a toy object, rendered and tiled). Steps, no gradient:
the UNet forward (noising + learned channels + UNet2DModel + plane split), the heads on the grid
(features at 81^3 vertices, SDF + deformation, FlexiCubes weights of 80^3 cubes from their corner features),
and, when ``atom.geometry.flexicubes`` is present, FlexiCubes extraction + vertex colors. Prints a Markdown
table of median wall-clock and CPU times.

    python bench/bench_crm.py [--preset crm] [--repeats 3] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import importlib.util

import torch
from timing import machine_header, median_times

from atom.model.reconstruction import ReconstructionModel
from atom.render import crm_unet_input, make_rasterizer, render_crm_views
from atom.toyworld.shapes import toy64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="crm", choices=["crm", "toy"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    model = ReconstructionModel(args.preset).to(device).eval()
    cfg = model.config
    mesh = toy64()[4 * 8 + 1].ground_truth_mesh(64)  # a green torus
    views = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, cfg.tile_size, make_rasterizer("torch"))
    unet_input = crm_unet_input(views.rgb[None], views.ccm[None]).to(device)
    with torch.no_grad():
        triplane = model(unet_input)

    grid = _grid(cfg.grid_resolution, cfg.bound, device)

    def unet_forward() -> None:
        with torch.no_grad():
            model(unet_input, torch.Generator(device).manual_seed(0))

    def heads_on_grid() -> None:
        with torch.no_grad():
            model.grid_fields(triplane, grid)

    rows = [
        ("UNet forward (tiles -> triplane)", median_times(unet_forward, args.repeats, device)),
        (
            f"heads on the grid ({grid.vertices.shape[0]:,} vertices, {grid.cubes.shape[0]:,} cubes)",
            median_times(heads_on_grid, args.repeats, device),
        ),
    ]
    if importlib.util.find_spec("atom.geometry.flexicubes") is not None:

        def extract() -> None:
            with torch.no_grad():
                model.extract_meshes(triplane)

        rows.append(("heads + FlexiCubes + vertex colors", median_times(extract, args.repeats, device)))
    title = (
        f"bench_crm: preset {args.preset}, {model.num_parameters():,} parameters, tiles {cfg.tile_size}, "
        f"grid {cfg.grid_resolution}, batch 1"
    )
    print(machine_header(title, device) + "\n")
    print(f"median of {args.repeats} after one warm-up; no gradient\n")
    print("| step | median wall s | median CPU s (all threads) |")
    print("|---|---:|---:|")
    for name, (wall, cpu) in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")


def _grid(resolution: int, bound: float, device: torch.device):
    """FlexiCubes' voxel grid when its module is present, else the same vertices and cubes built here."""
    if importlib.util.find_spec("atom.geometry.flexicubes") is not None:
        from atom.geometry.flexicubes import voxel_grid  # noqa: PLC0415 (present once the FlexiCubes branch lands)

        return voxel_grid(resolution, bound, device=device)
    from types import SimpleNamespace  # noqa: PLC0415

    n = resolution
    axis = torch.linspace(-bound, bound, n + 1, device=device)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    vertices = torch.stack([x, y, z], -1).reshape(-1, 3)
    corner = torch.arange(8, device=device)
    offsets = (corner & 1) + ((corner >> 1) & 1) * (n + 1) + ((corner >> 2) & 1) * (n + 1) ** 2
    k, j, i = torch.meshgrid(*(torch.arange(n, device=device),) * 3, indexing="ij")
    base = ((k * (n + 1) + j) * (n + 1) + i).reshape(-1, 1)
    return SimpleNamespace(vertices=vertices, cubes=base + offsets, cell_size=2 * bound / n)


if __name__ == "__main__":
    main()
