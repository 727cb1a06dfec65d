"""``python -m atom.reconstruct ckpt=... views=... ccm=...``: six views + six CCMs -> a textured mesh and previews.

Inputs (``atom.pipelines.crm_inputs``): ``views=`` and ``ccm=`` are each a strip image ``S x 6S`` (six square
tiles side by side, left to right in ``strip_order``, default front, left, bottom, back, right, top: CRM's
256 x 1536 strips) or a folder holding ``front.png``, ``left.png``, ``bottom.png``, ``back.png``,
``right.png``, ``top.png``. S must be the model's tile size (``resize=true`` resizes). RGBA images are
composited over CRM's grey (127/255).

Options (``conf/reconstruct/reconstruct.yaml``, schema ``atom.config.ReconstructConfig``): ``out_dir=``
(default ``outputs/reconstruct/<date_time>``), ``overwrite=false``, ``grid_resolution=`` (default: the
model's), ``seed=0``, ``device=auto``, ``export.format=glb|obj|ply``, ``export.texture=uv|vertex`` (uv by
default, 1024 px), ``postprocess.*``, ``preview.*``. Bad input exits with status 2 and a one-line reason
before any file is written.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from atom.config import CONF_DIR, ReconstructConfig, register_configs

CONFIG_DIR = CONF_DIR / "reconstruct"
CONFIG_NAME = "reconstruct"

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=CONFIG_NAME)
def main(cfg: DictConfig) -> None:
    from atom.model import CheckpointError
    from atom.pipelines import InferenceError, ViewInputError, reconstruction_table, run_reconstruction

    typed: ReconstructConfig = OmegaConf.to_object(cfg)
    try:
        summary = run_reconstruction(typed)
    except (InferenceError, ViewInputError, CheckpointError) as err:
        print(f"atom.reconstruct: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(reconstruction_table(summary), flush=True)
    print(f"\nwrote {summary['out_dir']}/index.html and {summary['out_dir']}/summary.json", flush=True)


if __name__ == "__main__":
    main()
