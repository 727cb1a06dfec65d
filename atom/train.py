"""``python -m atom.train`` / ``atom-train``: Hydra entry point of training.

Thin by design: it resolves the config (``conf/`` merged into ``atom.config.TrainConfig``, then a typed
``TrainConfig`` instance), picks the run directory and hands both to ``atom.training.build.build_trainer``,
which runs the chosen system (``system=atom``: AToM's SDS system, ``atom.training.atom_system``;
``system=crm``: CRM's reconstruction system, ``atom.training.crm_system``) in the generic ``Trainer``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from atom.config import CONF_DIR, register_configs
from atom.training.build import build_trainer

register_configs()
logger = logging.getLogger("atom.train")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> dict:
    run_dir = Path(cfg.run_dir) if cfg.run_dir else Path(HydraConfig.get().runtime.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if int(os.environ.get("RANK", "0")) == 0:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    trainer = build_trainer(OmegaConf.to_object(cfg), run_dir)
    summary = trainer.fit()
    if trainer.ctx.is_main:
        (run_dir / "summary.json").write_text(json.dumps(
            {k: v for k, v in summary.items() if k != "metrics_table"}, indent=2))
        print_summary(summary)
    return summary


def print_summary(summary: dict) -> None:
    table = summary.get("metrics_table")
    lines = [f"  {k}: {v}" for k, v in summary.items() if k != "metrics_table"]
    print("\nrun summary\n" + "\n".join(lines) + (f"\n\n{table}" if table else ""), flush=True)


if __name__ == "__main__":
    main()
