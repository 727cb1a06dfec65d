"""``python -m atom.infer ckpt=... prompts=[...]`` / ``atom-infer``: text -> meshes, previews and an index page.

Options (``conf/infer/infer.yaml``, schema ``atom.config.InferConfig``): ``prompts_file=``, ``out_dir=`` (default
``outputs/infer/<date_time>``), ``overwrite=false``, ``grid_resolution=64``, ``device=auto``,
``export.format=glb|obj|ply``, ``export.texture=vertex|uv``, ``postprocess.*``, ``preview.*`` and
``interpolate.prompts=[a,b] interpolate.steps=5 interpolate.mode=linear|slerp``, ``geometry.kind=dmtet|flexicubes``
(default: the checkpoint's own extractor) and ``geometry.backend=torch|kaolin``. Bad input exits with
status 2 and a one-line reason before any work.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from atom.config import CONF_DIR, InferConfig, register_configs

# A folder with no sub-folders, so that no key (prompts=...) is mistaken for a config group choice.
CONFIG_DIR = CONF_DIR / "infer"
CONFIG_NAME = "infer"

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=CONFIG_NAME)
def main(cfg: DictConfig) -> None:
    from atom.model import CheckpointError
    from atom.pipelines import InferenceError, run_inference, summary_table

    typed: InferConfig = OmegaConf.to_object(cfg)
    try:
        summary = run_inference(typed)
    except (InferenceError, CheckpointError) as err:
        print(f"atom.infer: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(summary_table(summary), flush=True)
    print(f"\nwrote {summary['out_dir']}/index.html and {summary['out_dir']}/summary.json", flush=True)


if __name__ == "__main__":
    main()
