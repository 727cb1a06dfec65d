"""The ``python -m atom.train`` command line: a Hydra multirun sweep of two tiny runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from atom.model import list_checkpoints
from atom.testing.tiny_training import TINY_OVERRIDES, tiny_pipeline


def test_multirun_sweep_writes_one_run_per_value(tiny_assets, tmp_path):
    pipeline = tiny_pipeline(tiny_assets)
    command = [
        sys.executable, "-m", "atom.train", "-m", *TINY_OVERRIDES, f"text.path={pipeline}",
        f"guidance.path={pipeline}", "trainer.max_steps=1", "trainer.export_at_end=false", "seed=0,1",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    runs = sorted((tmp_path / "sweep").iterdir())
    assert [r.name for r in runs if r.is_dir()] == ["0", "1"]
    for seed, run in enumerate(r for r in runs if r.is_dir()):
        assert json.loads((run / "summary.json").read_text())["steps"] == 1
        assert f"seed: {seed}" in (run / "config.yaml").read_text()
        assert list_checkpoints(run)
    assert "run summary" in result.stdout
