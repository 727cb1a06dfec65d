"""Geometry timings: tetrahedral grid build and marching tetrahedra forward + backward on the CPU.

Run ``python bench/bench_geometry.py [--resolutions 32 64 128] [--repeats 7] [--device cpu]``; prints a
Markdown table of median wall-clock times (after one warm-up run) with the machine in the header.
"""

from __future__ import annotations

import argparse

import torch
from timing import machine_header, median_times

from atom.geometry import TetrahedralGrid, extract_mesh, tetrahedral_grid


def bumpy_sphere_sdf(points: torch.Tensor) -> torch.Tensor:
    """A sphere of radius 0.5 with a ripple, so the surface is not aligned with the lattice."""
    ripple = torch.sin(7 * points).prod(dim=-1)
    return points.norm(dim=-1) - 0.5 + 0.03 * ripple


def bench_resolution(resolution: int, repeats: int, device: torch.device) -> dict[str, float]:
    build, _ = median_times(lambda: TetrahedralGrid.build(resolution), repeats)
    grid = tetrahedral_grid(resolution, device=device)
    cached, _ = median_times(lambda: tetrahedral_grid(resolution, device=device), repeats, device)
    sdf_values = bumpy_sphere_sdf(grid.vertices)
    deformation_values = torch.zeros_like(grid.vertices)

    def forward() -> object:
        with torch.no_grad():
            return extract_mesh(grid, sdf_values, deformation_values)

    def forward_backward() -> object:
        sdf = sdf_values.clone().requires_grad_(True)
        deformation = deformation_values.clone().requires_grad_(True)
        mesh = extract_mesh(grid, sdf, deformation)
        # Area and a vertex term: gradients reach both the SDF and the deformation.
        (mesh.area() + mesh.vertices.square().sum()).backward()
        return mesh

    mesh = forward()
    forward_wall, _ = median_times(forward, repeats, device)
    forward_backward_wall, forward_backward_cpu = median_times(forward_backward, repeats, device)
    return {
        "tets": grid.tets.shape[0],
        "faces": mesh.num_faces,
        "build": build,
        "cached": cached,
        "forward": forward_wall,
        "forward_backward": forward_backward_wall,
        "forward_backward_cpu": forward_backward_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)

    print(machine_header("bench_geometry: tetrahedral grid and marching tetrahedra", device))
    print()
    print(f"- median of {args.repeats} runs after one warm-up; SDF: bumpy sphere r = 0.5 on [-1, 1]^3")
    print("- build: `TetrahedralGrid.build` (uncached, CPU); cached: `tetrahedral_grid` lookup")
    print("- forward: `extract_mesh` (SDF + zero deformation) without grad; fwd+bwd: with grad on both;")
    print("  fwd+bwd CPU: process CPU time of all threads (the work itself when the cores are shared)")
    print()
    print("| N | tets | faces | grid build (s) | cached (ms) | forward (s) | fwd+bwd (s) | fwd+bwd CPU (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for resolution in args.resolutions:
        row = bench_resolution(resolution, args.repeats, device)
        print(
            f"| {resolution} | {row['tets']:,} | {row['faces']:,} | {row['build']:.3f} | "
            f"{row['cached'] * 1e3:.3f} | {row['forward']:.3f} | {row['forward_backward']:.3f} | "
            f"{row['forward_backward_cpu']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
