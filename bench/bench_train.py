"""Training throughput: median seconds per step and peak memory per stage for the toy64 configuration.

    python bench/bench_train.py [--steps 5] [--profile] [hydra overrides...]

Uses ``experiment=toy64`` (the bundled toy prior as guidance when present; otherwise pass
``guidance.path=...``). Peak memory is the process's peak resident set (CPU) or ``max_memory_allocated``
(CUDA), read after each stage's steps: stage 1 runs first, so the stage 2 figure is the peak of both.
Wall and process CPU seconds are both printed: the CPU time is the steadier one when other jobs share the
cores. ``--profile`` adds, per stage, torch profiler's table of the operators with the most self CPU time
over the timed steps.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from timing import machine_header, median_times

from atom.config import CONF_DIR, register_configs
from atom.training.build import build_trainer


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per stage (after one warm-up step)")
    parser.add_argument("--profile", action="store_true", help="print the top operators per stage")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. trainer.device=cuda")
    args = parser.parse_args()
    register_configs()
    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=toy64", "logger=none", "trainer.progress=false", f"run_dir={tmp}",
            "trainer.resume=none", *args.overrides])
        trainer = build_trainer(OmegaConf.to_object(cfg), Path(tmp))
        rows, profiles = [], []
        for stage, first_step in ((1, 0), (2, cfg.stage1.steps)):
            trainer.step = first_step
            trainer.train_step()  # warm-up outside the profile
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if args.profile \
                    else contextlib.nullcontext() as profile:
                median, cpu = median_times(trainer.train_step, args.steps, trainer.device, warmup=0)
            if args.profile:
                profiles.append((stage, profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)))
            res = cfg.stage1.resolution if stage == 1 else cfg.stage2.resolution
            rows.append((stage, res, median, cpu, peak_memory_mib(trainer.device)))

    views = cfg.trainer.prompts_per_step * cfg.render.views_per_prompt
    print(machine_header(f"bench_train: median of {args.steps} steps per stage after one warm-up", trainer.device))
    print(f"toy64: {cfg.trainer.prompts_per_step} prompts x {cfg.render.views_per_prompt} views = {views} "
          f"renders/step, generator R={cfg.model.triplane_resolution} C={cfg.model.triplane_channels}, "
          f"guidance {cfg.guidance.resolution}px, grid {cfg.stage2.grid_resolution}\n")
    print("| stage | render px | median s/step (wall) | median CPU s/step | peak memory MiB |")
    print("|---|---|---|---|---|")
    for stage, res, median, cpu, mem in rows:
        print(f"| {stage} | {res} | {median:.3f} | {cpu:.3f} | {mem:.0f} |")
    for stage, table in profiles:
        print(f"\nstage {stage}: operators by self CPU time over {args.steps} steps\n{table}")


if __name__ == "__main__":
    main()
