"""Time the generator: text tokens -> triplane -> heads at many points, forward and backward.

One training-like step at the default sizes (R = 64, C = 32): a batch of prompts (L = 32, D = 384)
through the front end, then ``field`` (sdf, finite-difference gradient, rgb) and ``deformation`` at
``points`` points per prompt, a scalar loss and its backward. Prints a Markdown table of median
wall-clock and CPU times.

    python bench/bench_model.py [--batch 8] [--points 16384] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch
from timing import machine_header, median_times

from atom.model import TextToMeshModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--points", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    model = TextToMeshModel().to(device)
    cfg = model.config
    tokens = torch.randn(args.batch, args.length, cfg.text_dim, device=device)
    mask = torch.ones(args.batch, args.length, dtype=torch.bool, device=device)
    points = (torch.rand(args.batch, args.points, 3, device=device) * 2 - 1) * cfg.bound
    cell_size = 2 * cfg.bound / 64  # a 64^3 tet grid

    def front_end_forward() -> None:
        with torch.no_grad():
            model(tokens, mask)

    def heads_loss(triplane: torch.Tensor) -> torch.Tensor:
        samples = model.field(triplane)(points)
        eikonal = (samples.gradient.norm(dim=-1) - 1).square().mean()
        offsets = model.deformation(triplane, points, cell_size)
        return samples.sdf.abs().mean() + eikonal + samples.rgb.mean() + offsets.square().mean()

    def front_end_step() -> None:
        model.zero_grad(set_to_none=True)
        model(tokens, mask).square().mean().backward()

    def full_step() -> None:
        model.zero_grad(set_to_none=True)
        heads_loss(model(tokens, mask)).backward()

    def full_forward() -> None:
        with torch.no_grad():
            heads_loss(model(tokens, mask))

    rows = [
        ("front end, forward (no grad)", median_times(front_end_forward, args.repeats, device)),
        ("front end, forward + backward", median_times(front_end_step, args.repeats, device)),
        ("front end + heads, forward (no grad)", median_times(full_forward, args.repeats, device)),
        ("front end + heads, forward + backward", median_times(full_step, args.repeats, device)),
    ]
    title = (
        f"bench_model: batch {args.batch}, L {args.length}, D {cfg.text_dim}, "
        f"R {cfg.triplane_resolution}, C {cfg.triplane_channels}, "
        f"{args.points} points/prompt (x7 for the FD stencil)"
    )
    print(machine_header(title, device) + "\n")
    print(f"parameters {model.num_parameters():,}; median of {args.repeats} after one warm-up\n")
    print("| step | median wall ms | median CPU ms (all threads) |")
    print("|---|---:|---:|")
    for name, (wall, cpu) in rows:
        print(f"| {name} | {1000 * wall:.1f} | {1000 * cpu:.1f} |")


if __name__ == "__main__":
    main()
