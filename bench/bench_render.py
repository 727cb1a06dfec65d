"""Render-room timings: the PyTorch rasterizer and NeuS, forward + backward, as a Markdown table.

Run: ``python bench/bench_render.py [--repeats 7] [--device cpu]``. Each row is the median wall-clock time
(and median process CPU time, all threads) of one training-style step after one warm-up step:

* rasterizer: project an icosphere from one camera, rasterize + interpolate (world positions) + antialias
  (coverage mask), then backward of a loss on both, with gradients to the vertices;
* NeuS: ``render_image`` of one 64x64 view with the default 64 + 32 samples per ray, then backward, for an
  analytic sphere field and, with ``--mlp``, for a small MLP field whose SDF gradient comes from autograd
  (slow on CPU: seconds per step, because of the double backward through 400k samples).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import trimesh
from timing import machine_header, median_times

from atom.render import FieldSamples, NeuSRenderer, SphereField, TorchRasterizer, look_at


class MLPField(torch.nn.Module):
    """A small SDF + color MLP (3 x 64 hidden, softplus) initialised near a sphere of radius 0.5."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, hidden),
            torch.nn.Softplus(beta=100),
            torch.nn.Linear(hidden, hidden),
            torch.nn.Softplus(beta=100),
            torch.nn.Linear(hidden, 4),
        )

    def forward(self, points: torch.Tensor) -> FieldSamples:
        with torch.enable_grad():
            if not points.requires_grad:
                points = points.detach().requires_grad_(True)
            output = self.net(points)
            sdf = output[..., 0] + points.norm(dim=-1) - 0.5
            (gradient,) = torch.autograd.grad(sdf.sum(), points, create_graph=torch.is_grad_enabled())
        return FieldSamples(sdf=sdf, gradient=gradient, rgb=torch.sigmoid(output[..., 1:]))


def _rasterizer_step(
    subdivisions: int, resolution: int, device: torch.device
) -> tuple[Callable[[], None], int]:
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.5)
    vertices = torch.tensor(mesh.vertices, dtype=torch.float32, device=device).requires_grad_(True)
    faces = torch.tensor(mesh.faces, dtype=torch.int64, device=device)
    matrix = look_at(20.0, 30.0, 2.8, 40.0).world_to_clip().to(device)
    rasterizer = TorchRasterizer()

    def step() -> None:
        clip = torch.cat([vertices, torch.ones_like(vertices[:, :1])], -1)[None] @ matrix.transpose(1, 2)
        fragments = rasterizer.rasterize(clip, faces, (resolution, resolution))
        position = rasterizer.interpolate(vertices[None], fragments, faces)
        mask = rasterizer.antialias(fragments.mask[..., None].float(), fragments, clip, faces)
        (position.square().mean() + mask.mean()).backward()
        vertices.grad = None

    return step, len(mesh.faces)


def _neus_step(field: torch.nn.Module | SphereField, device: torch.device) -> Callable[[], None]:
    renderer = NeuSRenderer().to(device)
    cameras = look_at(20.0, 30.0, 2.8, 40.0).to(device)
    background = torch.ones(3, device=device)
    parameters = list(renderer.parameters()) + (
        list(field.parameters()) if isinstance(field, torch.nn.Module) else []
    )

    def step() -> None:
        out = renderer.render_image(field, cameras, 64, background)
        eikonal = (out["gradients"].norm(dim=-1) - 1).square().mean()
        (out["rgb"].mean() + out["opacity"].mean() + eikonal).backward()
        for parameter in parameters:
            parameter.grad = None

    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per row (after one warm-up)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--mlp", action="store_true", help="also time NeuS with a small MLP field")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error(f"--repeats must be >= 5 for a meaningful median, got {args.repeats}")
    device = torch.device(args.device)
    torch.manual_seed(0)

    rows = []
    for subdivisions, resolution in ((6, 64), (6, 256), (6, 512)):
        step, triangles = _rasterizer_step(subdivisions, resolution, device)
        wall, cpu = median_times(step, args.repeats, device)
        case = f"rasterize+interpolate+antialias, {triangles:,} triangles"
        rows.append((case, f"{resolution}x{resolution}", wall, cpu))
    fields = [("analytic sphere", SphereField())] + (
        [("MLP 3x64, autograd SDF gradient", MLPField())] if args.mlp else []
    )
    for name, field in fields:
        field = field.to(device) if isinstance(field, torch.nn.Module) else field
        wall, cpu = median_times(_neus_step(field, device), args.repeats, device)
        rows.append((f"NeuS 64+32 samples/ray, {name}", "64x64", wall, cpu))

    print(machine_header(f"bench_render: fwd+bwd, batch 1, median of {args.repeats} after 1 warm-up", device))
    print()
    print("| case | resolution | median (ms) | CPU (ms) |")
    print("|---|---|---:|---:|")
    for case, resolution, wall, cpu in rows:
        print(f"| {case} | {resolution} | {1000 * wall:.1f} | {1000 * cpu:.1f} |")


if __name__ == "__main__":
    main()
