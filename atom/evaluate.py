"""``python -m atom.evaluate ckpt=...`` / ``atom-eval``: 3D metrics of a trained checkpoint in the toy world.

Generates a mesh for each prompt (all 64 Toy64 prompts by default) in one batched pass, compares it with the
analytic ground truth (Chamfer-L1, F-score@0.05, volume IoU, colour error, 3D R-precision, azimuthal structure
ratio, genus), prints a table and writes a JSON file. Prompts outside the toy vocabulary are generated and reported
as having no ground truth.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from atom.config import CONF_DIR, register_configs

register_configs()
logger = logging.getLogger("atom.evaluate")


def evaluate_checkpoint(cfg: DictConfig) -> dict:
    from atom.build import resolve_device
    from atom.text_to_mesh import Generator
    from atom.toyworld.metrics import evaluate_meshes, format_table
    from atom.toyworld.shapes import toy64, toy64_split
    from atom.training.checkpoint import resolve_checkpoint

    checkpoint = resolve_checkpoint(cfg.ckpt)
    generator = Generator.from_pretrained(checkpoint, device=resolve_device(cfg.device))
    objects = toy64()
    prompts = list(cfg.prompts) or [obj.prompt for obj in objects]
    _, test = toy64_split()
    unseen = {objects[i].prompt for i in test}
    meshes = [m.detach().to("cpu") for m in generator(prompts, grid_resolution=cfg.grid_resolution)]
    results = evaluate_meshes(prompts, meshes, unseen=unseen)
    output = Path(cfg.output) if cfg.output else checkpoint / "evaluation.json"
    output.write_text(json.dumps(results, indent=2, default=float))
    table = format_table(results)
    print(table, flush=True)
    print(f"\nwrote {output}", flush=True)
    return results


@hydra.main(version_base="1.3", config_path=str(CONF_DIR / "evaluate"), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    evaluate_checkpoint(cfg)


if __name__ == "__main__":
    main()
