"""Geometry timings: grid builds, marching tetrahedra and FlexiCubes forward + backward on the CPU.

Run ``python bench/bench_geometry.py [--resolutions 32 64 128] [--flexicubes-resolutions 32 64 80 128]
[--repeats 7] [--device cpu]``; prints Markdown tables of median wall-clock times (after one warm-up run)
with the machine in the header: DMTet alone, then FlexiCubes beside DMTet at a matched face count.
"""

from __future__ import annotations

import argparse
import math

import torch
from timing import machine_header, median_times

from atom.geometry import TetrahedralGrid, extract_mesh, flexicubes, tetrahedral_grid, voxel_grid


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


def dmtet_forward_backward(resolution: int, repeats: int, device: torch.device) -> tuple[int, float]:
    """Face count and median fwd+bwd seconds of DMTet on the bumpy sphere (grad on SDF and deformation)."""
    grid = tetrahedral_grid(resolution, device=device)
    sdf_values = bumpy_sphere_sdf(grid.vertices)

    def step() -> object:
        sdf = sdf_values.clone().requires_grad_(True)
        deformation = torch.zeros_like(grid.vertices).requires_grad_(True)
        mesh = extract_mesh(grid, sdf, deformation)
        (mesh.area() + mesh.vertices.square().sum()).backward()
        return mesh

    faces = step().num_faces
    wall, _ = median_times(step, repeats, device)
    return faces, wall


def bench_flexicubes(resolution: int, repeats: int, device: torch.device) -> dict[str, float]:
    """FlexiCubes on the bumpy sphere: forward (inference split) and training-mode fwd+bwd, without and
    with the 21 per-cube weights requiring grad, beside DMTet at the resolution with about as many faces."""
    grid = voxel_grid(resolution, device=device)
    sdf_values = bumpy_sphere_sdf(grid.vertices)
    num_cubes = grid.cubes.shape[0]

    def forward() -> object:
        with torch.no_grad():
            return flexicubes(grid, sdf_values).mesh

    def forward_backward(with_weights: bool) -> object:
        sdf = sdf_values.clone().requires_grad_(True)
        deformation = torch.zeros_like(grid.vertices).requires_grad_(True)
        weights = {}
        if with_weights:
            weights = {
                "beta": torch.zeros(num_cubes, 12, device=device, requires_grad=True),
                "alpha": torch.zeros(num_cubes, 8, device=device, requires_grad=True),
                "gamma": torch.zeros(num_cubes, device=device, requires_grad=True),
            }
        out = flexicubes(grid, sdf, deformation=deformation, training=True, **weights)
        (out.mesh.area() + out.mesh.vertices.square().sum() + out.deviation).backward()
        return out.mesh

    faces = forward().num_faces
    forward_wall, _ = median_times(forward, repeats, device)
    plain_wall, plain_cpu = median_times(lambda: forward_backward(False), repeats, device)
    weights_wall, _ = median_times(lambda: forward_backward(True), repeats, device)
    # DMTet makes about 3x the faces of FlexiCubes at the same resolution: match by N / sqrt(3).
    dmtet_resolution = max(1, round(resolution / math.sqrt(3)))
    dmtet_faces, dmtet_wall = dmtet_forward_backward(dmtet_resolution, repeats, device)
    return {
        "faces": faces,
        "forward": forward_wall,
        "forward_backward": plain_wall,
        "forward_backward_cpu": plain_cpu,
        "forward_backward_weights": weights_wall,
        "dmtet_resolution": dmtet_resolution,
        "dmtet_faces": dmtet_faces,
        "dmtet_forward_backward": dmtet_wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--flexicubes-resolutions", type=int, nargs="+", default=[32, 64, 80, 128])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)

    print(machine_header("bench_geometry: grids, marching tetrahedra and FlexiCubes", device))
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

    print()
    print("FlexiCubes (training-mode split) beside DMTet at about the same number of faces:")
    print("- faces: FlexiCubes inference mesh (2 per quad; training makes 4); DMTet N' = round(N / sqrt(3))")
    print("- fwd+bwd: grad on SDF + deformation (+ L_dev); +weights: also beta, alpha, gamma of every cube")
    print()
    print(
        "| N | faces | forward (s) | fwd+bwd (s) | fwd+bwd CPU (s) | fwd+bwd +weights (s) | DMTet N' | DMTet faces "
        "| DMTet fwd+bwd (s) | FC / DMTet fwd+bwd |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for resolution in args.flexicubes_resolutions:
        row = bench_flexicubes(resolution, args.repeats, device)
        print(
            f"| {resolution} | {row['faces']:,} | {row['forward']:.3f} | {row['forward_backward']:.3f} | "
            f"{row['forward_backward_cpu']:.3f} | {row['forward_backward_weights']:.3f} | "
            f"{row['dmtet_resolution']} | {row['dmtet_faces']:,} | {row['dmtet_forward_backward']:.3f} | "
            f"{row['forward_backward'] / row['dmtet_forward_backward']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
