"""The timing loop and machine header shared by the benches in ``bench/``.

The benches run as scripts (``python bench/bench_x.py``), so they import this module as ``timing``: the
script's folder is on ``sys.path``.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def median_times(
    step: Callable[[], object], repeats: int, device: torch.device | None = None, warmup: int = 1
) -> tuple[float, float]:
    """Median wall-clock seconds and median process CPU seconds of ``step`` over ``repeats`` runs.

    ``warmup`` untimed runs come first (allocator, kernels, lazy init). On CUDA the device is synchronised
    before and after each run, so the wall time covers the kernels ``step`` queued. The CPU time counts all
    threads of this process: the steadier number when other jobs share the cores, while the wall time is
    the one a user waits for.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    cuda = device is not None and device.type == "cuda"
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize(device)
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        step()
        if cuda:
            torch.cuda.synchronize(device)
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def machine_header(title: str, device: torch.device | None = None) -> str:
    """One Markdown header line: the bench ``title``, date, CPU, cores, torch, threads, device and load.

    ``device`` None is for benches that run on every device present: the line names the CPU, and the GPU
    when CUDA is available. The load average (1 min) shows whether other jobs shared the cores.
    """
    return (
        f"# {title} | {datetime.date.today().isoformat()} | {_cpu_name()} | {os.cpu_count()} cores | "
        f"torch {torch.__version__} | {torch.get_num_threads()} threads | {_device_name(device)} | "
        f"load {os.getloadavg()[0]:.1f}"
    )


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device_name(device: torch.device | None) -> str:
    if device is None:
        if torch.cuda.is_available():
            return f"devices cpu + cuda ({torch.cuda.get_device_name()})"
        return "device cpu (no GPU)"
    if device.type == "cuda":
        return f"device {device} ({torch.cuda.get_device_name(device)})"
    return f"device {device}"
