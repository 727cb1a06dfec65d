"""Training steps with glibc's default malloc against ``trainer.retain_freed_memory`` (atom.training.allocator).

    python bench/bench_allocator.py [--steps 6] [--rounds 2] [hydra overrides...]

The setting is process-wide, so each measurement is a fresh ``bench/bench_train.py`` process; the two settings
alternate for ``--rounds`` rounds (off, on, off, on, ...) so that a change of load on shared cores falls on both.
Prints, per stage, the median over rounds of each process's median CPU s/step, the ratio retained / default, and
each process's minor page faults (``getrusage`` of the finished child) and peak resident set.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from timing import machine_header

ROW = re.compile(r"^\| ([12]) \| \d+ \| ([\d.]+) \| ([\d.]+) \| (\d+) \|$", re.M)


def one_process(retain: bool, steps: int, overrides: list[str]) -> dict:
    """CPU s/step per stage, minor page faults and peak RSS (MiB, bench_train's own figure) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("bench_train.py")), "--steps", str(steps),
         f"trainer.retain_freed_memory={str(retain).lower()}", *overrides],
        capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = ROW.findall(out)
    if sorted(int(row[0]) for row in rows) != [1, 2]:
        raise RuntimeError(f"bench_train printed no per-stage rows:\n{out}")
    return {"cpu": {int(stage): float(cpu_s) for stage, _, cpu_s, _ in rows},
            "faults": after.ru_minflt - before.ru_minflt, "rss": max(float(row[3]) for row in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per stage in each process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per setting, alternating")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides passed on to bench_train.py")
    args = parser.parse_args()
    torch.set_num_threads(1)  # for the header: each bench_train child runs with OMP_NUM_THREADS=1
    runs = {False: [], True: []}
    for _ in range(args.rounds):
        for retain in (False, True):
            runs[retain].append(one_process(retain, args.steps, args.overrides))
    print(machine_header(f"bench_allocator: {args.rounds} processes per setting, median of {args.steps} steps "
                         "per stage in each"))
    print("| stage | default CPU s/step | retained CPU s/step | retained / default |")
    print("|---|---|---|---|")
    for stage in (1, 2):
        default = statistics.median(run["cpu"][stage] for run in runs[False])
        retained = statistics.median(run["cpu"][stage] for run in runs[True])
        print(f"| {stage} | {default:.3f} | {retained:.3f} | {retained / default:.2f} |")
    print("\n| setting | minor page faults per process (median) | peak RSS MiB (max) |")
    print("|---|---|---|")
    for retain, name in ((False, "default"), (True, "retained")):
        faults = statistics.median(run["faults"] for run in runs[retain])
        print(f"| {name} | {faults / 1e6:.2f} M | {max(run['rss'] for run in runs[retain]):.0f} |")


if __name__ == "__main__":
    main()
