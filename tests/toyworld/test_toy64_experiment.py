"""A few steps of the real default experiment: toy64 with MiniLM and the bundled toy prior."""

from __future__ import annotations

import json

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atom.config import CONF_DIR, register_configs
from atom.model import list_checkpoints
from atom.training.build import build_trainer


def test_toy64_trains_both_stages_with_the_bundled_prior(tmp_path):
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=toy64", f"run_dir={tmp_path}", "logger=jsonl", "trainer.max_steps=3", "stage1.steps=2",
            "trainer.prompts_per_step=2", "stage1.resolution=12", "stage2.resolution=32",
            "trainer.export_at_end=false", "trainer.progress=false", "trainer.log_every=1"])
    trainer = build_trainer(OmegaConf.to_object(cfg), tmp_path)
    system = trainer.system
    assert system.prompts.name == "toy64" and len(system.prompts.train) == 56 and len(system.prompts.test) == 8
    assert system.guidance.embedding_dim == system.view_embeddings.dim == 384
    summary = trainer.fit()
    assert summary["steps"] == 3 and summary["skipped_nonfinite"] == 0
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {r["train/stage"] for r in records if "train/stage" in r} == {1.0, 2.0}
    assert all(r["loss/sds"] > 0 for r in records if "loss/sds" in r)
    assert list_checkpoints(tmp_path) and list((tmp_path / "renders").glob("*.png"))
