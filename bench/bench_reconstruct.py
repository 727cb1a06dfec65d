"""Time ``python -m atom.reconstruct`` end to end, as a user runs it: views + CCMs -> textured GLB + previews.

A random-weight :class:`~atom.model.ReconstructionModel` at the ``toy`` or ``crm`` preset is saved to a
temporary folder; a toy object's six views and CCMs are rendered at the model's tile size and written as
strips (``S x 6S``); the CLI runs in a subprocess ``--repeats`` times with the default export (GLB, UV texture
1024 px) and 8 preview views. Prints a Markdown table of the median seconds per stage (from each run's
``summary.json``) and of the whole command (interpreter start and imports included). Random weights give
a random surface, so face counts (and the clean-up/baking share) differ from a trained model's.

    python bench/bench_reconstruct.py [--preset toy] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from timing import machine_header

from atom.tables import markdown_table
from atom.testing.tiny_reconstruction import toy_object_views, write_strip

STAGES = ("read_s", "load_s", "network_s", "extract_s", "write_s", "total_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="toy", choices=["crm", "toy"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the CLI runs")
    args = parser.parse_args()
    from atom.model import ReconstructionModel

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        model = ReconstructionModel(args.preset)
        model.save_pretrained(root / "model")
        views = toy_object_views(model.config.tile_size)
        write_strip(views.rgb, root / "views.png")
        write_strip(views.ccm, root / "ccm.png")
        del model
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
        runs, commands, faces = [], [], []
        for repeat in range(args.repeats):
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "atom.reconstruct", f"ckpt={root / 'model'}", f"views={root / 'views.png'}",
                 f"ccm={root / 'ccm.png'}", f"out_dir={root / f'out{repeat}'}", "progress=false"],
                env=env, capture_output=True, text=True, check=False)
            commands.append(time.perf_counter() - started)
            if result.returncode:
                raise SystemExit(f"atom.reconstruct failed:\n{result.stderr}")
            summary = json.loads((root / f"out{repeat}" / "summary.json").read_text())
            runs.append(summary["timing"])
            faces.append(summary["objects"][0]["faces"])
    torch.set_num_threads(args.threads)
    print(machine_header(f"atom.reconstruct, preset {args.preset}, {args.repeats} runs", torch.device("cpu")))
    rows = [(stage.removesuffix("_s"), f"{statistics.median(run[stage] for run in runs):.2f}") for stage in STAGES]
    rows.append(("command (with interpreter start)", f"{statistics.median(commands):.2f}"))
    print(markdown_table(("stage", "median s"), rows))
    print(f"\nfaces after clean-up: {faces}")


if __name__ == "__main__":
    main()
