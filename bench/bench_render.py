"""Render-room timings: the PyTorch rasterizer and NeuS, forward + backward, as a Markdown table.

Run: ``python bench/bench_render.py [--repeats 7] [--device cpu]``. Each row is the median (and minimum)
wall-clock time of one training-style step after one warm-up step:

* rasterizer: project an icosphere from one camera, rasterize + interpolate (world positions) + antialias
  (coverage mask), then backward of a loss on both, with gradients to the vertices;
* NeuS: ``render_image`` of one 64x64 view with the default 64 + 32 samples per ray, then backward, for an
  analytic sphere field and, with ``--mlp``, for a small MLP field whose SDF gradient comes from autograd
  (slow on CPU: seconds per step, because of the double backward through 400k samples).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from collections.abc import Callable

import torch
import trimesh

from atom.render import FieldSamples, NeuSRenderer, SphereField, TorchRasterizer, look_at


class MLPField(torch.nn.Module):
    """A small SDF + colour MLP (3 x 64 hidden, softplus) initialised near a sphere of radius 0.5."""

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


def _median_ms(step: Callable[[], None], repeats: int, device: torch.device) -> tuple[float, float]:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), min(times)


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


def _machine() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return model


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
        median, best = _median_ms(step, args.repeats, device)
        rows.append(
            (
                f"rasterize+interpolate+antialias, {triangles:,} triangles",
                f"{resolution}x{resolution}",
                median,
                best,
            )
        )
    fields = [("analytic sphere", SphereField())] + (
        [("MLP 3x64, autograd SDF gradient", MLPField())] if args.mlp else []
    )
    for name, field in fields:
        field = field.to(device) if isinstance(field, torch.nn.Module) else field
        median, best = _median_ms(_neus_step(field, device), args.repeats, device)
        rows.append((f"NeuS 64+32 samples/ray, {name}", "64x64", median, best))

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else _machine()
    print(f"## bench_render: fwd+bwd, batch 1, median of {args.repeats} after 1 warm-up\n")
    print(f"- machine: {device_name} ({platform.machine()}), device {device}")
    print(f"- torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}\n")
    print("| case | resolution | median (ms) | min (ms) |")
    print("|---|---|---:|---:|")
    for case, resolution, median, best in rows:
        print(f"| {case} | {resolution} | {median:.1f} | {best:.1f} |")


if __name__ == "__main__":
    main()
