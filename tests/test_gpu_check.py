"""bench/gpu_check.py: the --smoke CPU mode runs every code path and writes the Markdown; without CUDA the full
check stops at once with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from atom.config import Precision

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_check.py"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_smoke_mode_writes_every_table(tmp_path) -> None:
    output = tmp_path / "check.md"
    result = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--steps", "1", "--output", str(output)],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = output.read_text()
    assert "SMOKE (CPU, tiny sizes" in text and "random embeddings [77, 32] in place of T5-XXL" in text
    stage_rows = [line for line in text.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert [row.split("|")[2].strip() for row in stage_rows] == ["12", "24"]  # the smoke render sizes per stage
    assert all(float(row.split("|")[3]) > 0 for row in stage_rows)
    assert "over 20 prompts" in text and "| 8 |" in text  # inference at the smoke grid, all 20 prompts
    for name in ("tinycudann", "kaolin", "nvdiffrast", "xformers"):
        assert f"| {name} | " in text
    assert text in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_without_cuda_the_full_check_fails_fast_with_the_reason(tmp_path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--output", str(tmp_path / "x.md")], cwd=tmp_path,
                            env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "gpu_check: error: no CUDA device" in result.stderr and "--smoke" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.md").exists()


def test_full_configuration_is_df415_sized(tmp_path, monkeypatch) -> None:
    """The full check's config and UNet, composed here without a GPU (the run itself needs one)."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import gpu_check
    from bench_guidance import IF_I_XL_UNET
    from diffusers import UNet2DConditionModel

    cfg = gpu_check.compose_config(tmp_path / "run", tmp_path / "tiny_if", smoke=False, extra=[])
    assert (cfg.trainer.prompts_per_step, cfg.render.views_per_prompt) == (8, 4)
    assert (cfg.stage1.resolution, cfg.stage2.resolution, cfg.stage2.grid_resolution) == (64, 256, 128)
    assert cfg.trainer.export_grid_resolution == 128 and cfg.trainer.precision is Precision.bf16
    assert cfg.model.text_dim == gpu_check.T5_XXL_WIDTH and cfg.text.max_length == gpu_check.T5_XXL_TOKENS
    assert list(cfg.prompts.prompts) == gpu_check.PROMPTS and len(set(gpu_check.PROMPTS)) == 20
    assert gpu_check.unet_config(smoke=False) == IF_I_XL_UNET
    with torch.device("meta"):
        params = sum(p.numel() for p in UNet2DConditionModel(**gpu_check.unet_config(smoke=False)).parameters())
    assert 4.2e9 < params < 4.4e9  # IF-I-XL: 4.3B
