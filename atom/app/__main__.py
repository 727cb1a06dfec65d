"""``python -m atom.app ckpt=<checkpoint or run dir>``: the Gradio demo on http://127.0.0.1:7860.

Options (``conf/app/app.yaml``, schema ``atom.config.AppConfig``): ``port=``, ``host=``, ``out_dir=`` (default
``outputs/app/<date_time>``: meshes and Gradio's temporary files), ``device=auto``, ``grid_resolution=64``,
``postprocess.*`` (the page's defaults), ``image_ckpt=`` (CRM models; the image tab is hidden without them).
A checkpoint that fails to load is reported in the page; bad options exit with status 2 before serving.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from atom.config import CONF_DIR, register_configs

CONFIG_DIR = CONF_DIR / "app"
CONFIG_NAME = "app"

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=CONFIG_NAME)
def main(cfg: DictConfig) -> None:
    from atom.app.server import serve

    try:
        serve(OmegaConf.to_object(cfg))
    except ValueError as err:
        print(f"atom.app: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
