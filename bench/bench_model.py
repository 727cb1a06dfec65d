"""Time the generator: text tokens -> triplane -> heads at many points, forward and backward.

One training-like step at the default sizes (R = 64, C = 32): a batch of prompts (L = 32, D = 384)
through the front end, then ``field`` (sdf, finite-difference gradient, rgb) and ``deformation`` at
``points`` points per prompt, a scalar loss and its backward. Prints a Markdown table of median
wall-clock and CPU times.

    python bench/bench_model.py [--batch 8] [--points 16384] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from atom.model import TriplaneGenerator


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_ms(step: Callable[[], None], repeats: int, device: torch.device) -> tuple[float, float]:
    """Median wall-clock and process CPU milliseconds of ``step``; CPU time (all threads) is the steadier
    number on a shared machine, wall-clock the one a user waits for."""
    step()  # warm-up: allocator, kernels, lazy init
    wall, cpu = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


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

    model = TriplaneGenerator().to(device)
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
        ("front end, forward (no grad)", median_ms(front_end_forward, args.repeats, device)),
        ("front end, forward + backward", median_ms(front_end_step, args.repeats, device)),
        ("front end + heads, forward (no grad)", median_ms(full_forward, args.repeats, device)),
        ("front end + heads, forward + backward", median_ms(full_step, args.repeats, device)),
    ]
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(
        f"## bench_model: batch {args.batch}, L {args.length}, D {cfg.text_dim}, "
        f"R {cfg.triplane_resolution}, C {cfg.triplane_channels}, "
        f"{args.points} points/prompt (x7 for the FD stencil)\n"
    )
    print(
        f"machine: {machine}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
        f"date {datetime.date.today().isoformat()}; load average {os.getloadavg()[0]:.1f}; "
        f"parameters {model.num_parameters():,}\n"
    )
    print("| step | median wall ms | median CPU ms (all threads) |")
    print("|---|---:|---:|")
    for name, (wall_ms, cpu_ms) in rows:
        print(f"| {name} | {wall_ms:.1f} | {cpu_ms:.1f} |")


if __name__ == "__main__":
    main()
