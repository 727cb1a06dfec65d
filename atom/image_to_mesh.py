"""``python -m atom.image_to_mesh image=<picture>`` (or ``prompt="a red cube"``): one picture -> six views -> six
CCMs -> a textured mesh, with previews, ``index.html`` and ``summary.json`` (per-stage seconds).

Input (``atom.pipelines.image_inputs``): a picture of one object, at least 32 px, as an RGBA cut-out or on a
plain background (the toy prior's renders: on white); it is cut out, centred and padded onto CRM's grey.
``prompt=`` first draws the picture with a text-to-image model (default: the bundled toy prior, caption
``"<prompt>, front view"``). Give exactly one of the two.

Options (``conf/image_to_mesh/image_to_mesh.yaml``, schema ``atom.config.ImageToMeshConfig``): ``models=``
(default: the bundled toy models ``atom/weights/toy_image_to_mesh``; a folder with ``views/``, ``ccms/``,
``reconstruction/``), ``views_model=``, ``ccms_model=``, ``reconstruction_model=`` (per-stage paths),
``out_dir=`` (default ``outputs/image_to_mesh/<date_time>``), ``overwrite=false``, ``seed=0``,
``num_inference_steps=``, ``guidance_scale=``, ``num_samples=`` (samples per picture, triplanes averaged; default: the
models folder's), ``foreground_ratio=null|0.8``, ``grid_resolution=``, ``device=auto``,
``export.format=glb|obj|ply``, ``export.texture=uv|vertex``, ``postprocess.*``, ``preview.*``,
``text_to_image.*``. Bad input exits with status 2 and a one-line reason; a failing stage exits with status 1,
naming the stage, and leaves the earlier stages' outputs in ``out_dir``.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from atom.config import CONF_DIR, ImageToMeshConfig, register_configs

CONFIG_DIR = CONF_DIR / "image_to_mesh"
CONFIG_NAME = "image_to_mesh"

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=CONFIG_NAME)
def main(cfg: DictConfig) -> None:
    from atom.model import CheckpointError
    from atom.pipelines import ImageInputError, ImageToMeshError, InferenceError, StageError
    from atom.pipelines.image_to_mesh_run import image_to_mesh_table, run_image_to_mesh

    typed: ImageToMeshConfig = OmegaConf.to_object(cfg)
    try:
        summary = run_image_to_mesh(typed)
    except (InferenceError, ImageInputError, ImageToMeshError, CheckpointError) as err:
        print(f"atom.image_to_mesh: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    except StageError as err:
        print(f"atom.image_to_mesh: error: {err}\n(the earlier stages' outputs and summary.json are in "
              f"{err.out_dir})", file=sys.stderr, flush=True)
        sys.exit(1)
    print(image_to_mesh_table(summary), flush=True)
    print(f"\nwrote {summary['out_dir']}/index.html and {summary['out_dir']}/summary.json", flush=True)


if __name__ == "__main__":
    main()
