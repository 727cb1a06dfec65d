"""Two CPU processes (gloo) through the real ``torchrun`` path: replicas must stay identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from atom.model import list_checkpoints
from atom.testing.tiny_training import TINY_OVERRIDES, tiny_pipeline


def test_two_process_gloo_run_keeps_replicas_identical(tiny_assets, tmp_path):
    pipeline = tiny_pipeline(tiny_assets)
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
        "-m", "atom.train", *TINY_OVERRIDES, f"text.path={pipeline}", f"guidance.path={pipeline}",
        f"run_dir={run}", "trainer.max_steps=3", "stage1.steps=2", "trainer.export_at_end=false",
        "prompts.prompts=[a red cube,a blue sphere,a green cone,a yellow torus]",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 3
    assert summary["replica_max_abs_diff"] == 0.0
    assert list_checkpoints(run), "rank 0 wrote no checkpoint"
