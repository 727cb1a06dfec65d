"""A pool of GENERATED six views + CCMs of training objects, for fine-tuning the reconstruction model on the
inputs it meets in the image-to-mesh chain (issue 12).

The reconstruction model is trained on six views and CCMs rendered from the true meshes
(:func:`atom.toyworld.crm_data.render_unet_inputs`); in the chain it gets what the two diffusion stages make
of one picture, with a speckled, tinted background and wrong top/bottom views. A pool entry is one training
object (:func:`atom.toyworld.multiview_data.sample_training_examples`: drawn by rejection against
:func:`atom.toyworld.crm_data.is_held_out`, so never a held-out object), its picture from the input camera,
and the stages' outputs for that picture: ``views = stage1(picture)``, ``ccms = stage2(views)``, exactly as
:class:`~atom.pipelines.ImageToMeshPipeline` chains them. The object's parameters are stored beside them, so
that a trainer can render the ground-truth supervision (:class:`atom.training.crm_system.CRMSystem` with
``crm.generated_pool``).

File: one safetensors file; tensors ``views``, ``ccms`` ``[N, 6, 3, T, T]`` (float16, in [0, 1]),
``shape`` ``[N]`` (int64, index into ``SHAPES``), ``color`` ``[N, 3]``, ``yaw`` ``[N]`` (degrees), ``scale``
``[N]``, ``elevation`` ``[N]`` (the input camera's, degrees; float32); metadata ``settings`` (JSON: the stage
folders, steps, guidance, seed). :func:`load_generated_pool` refuses a pool holding a held-out object.

``python -m atom.toyworld.generated_pool out=<file> count=512 [models=<image-to-mesh folder>] [batch_size=16]
[seed=7] [num_inference_steps=20]`` (Hydra): generates in batches, one seeded generator for all the noise; Hydra's
own log folder goes to ``outputs/<date>/`` unless ``hydra.run.dir=<folder>`` is given. Cost (2026-11-30, one
thread, shared 2-core EPYC): 2.4 CPU-s per object with the bundled 32-px stages at 20 DDIM steps.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from atom.config import register_configs
from atom.pipelines.image_to_mesh import ImageToMeshPipeline
from atom.render import make_rasterizer
from atom.toyworld.crm_data import PosedObject, is_held_out
from atom.toyworld.multiview_data import sample_training_examples

logger = logging.getLogger("atom.toyworld.generated_pool")

OBJECT_KEYS = ("shape", "color", "yaw", "scale", "elevation")
IMAGE_KEYS = ("views", "ccms")


@dataclass
class GeneratedPool:
    """Generated inputs of N training objects.

    Attributes:
        views: [N, 6, 3, T, T] stage 1's six views, float32 in [0, 1], CRM_VIEW_NAMES order.
        ccms: [N, 6, 3, T, T] stage 2's CCMs of those views.
        objects: the N posed objects (never held out).
        elevations: [N] the input camera's elevation, degrees.
        settings: how the pool was made (stage folders, steps, guidance, seed).
    """

    views: Tensor
    ccms: Tensor
    objects: list[PosedObject]
    elevations: Tensor
    settings: dict

    def __len__(self) -> int:
        return len(self.objects)

    @property
    def tile_size(self) -> int:
        return int(self.views.shape[-1])


@torch.no_grad()
def generate_pool(pipeline: ImageToMeshPipeline, count: int, generator: torch.Generator, batch_size: int = 16,
                  num_inference_steps: int | None = None, guidance_scale: float | None = None,
                  mesh_resolution: int = 32) -> GeneratedPool:
    """``count`` training objects (and their elevations) from ``generator``, their pictures, and the views and
    CCMs ``pipeline``'s two diffusion stages make of them (``batch_size`` pictures at a time; the stages' noise
    from the same ``generator``)."""
    if count < 1 or batch_size < 1:
        raise ValueError(f"count and batch_size must be >= 1, got {count} and {batch_size}")
    rasterizer = make_rasterizer("torch")
    views, ccms, objects, elevations = [], [], [], []
    for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        started = time.perf_counter()
        examples = sample_training_examples(n, generator, pipeline.input_size, pipeline.tile_size, rasterizer,
                                            mesh_resolution)
        batch_views = pipeline.generate_views(examples.inputs, num_inference_steps=num_inference_steps,
                                              guidance_scale=guidance_scale, generator=generator)
        batch_ccms = pipeline.generate_ccms(batch_views, num_inference_steps=num_inference_steps,
                                            guidance_scale=guidance_scale, generator=generator)
        views.append(batch_views.cpu())
        ccms.append(batch_ccms.cpu())
        objects.extend(examples.objects)
        elevations.append(examples.elevations)
        logger.info("generated %d/%d objects (%.2f s per object)", start + n, count,
                    (time.perf_counter() - started) / n)
    settings = {"stages": dict(pipeline.paths), "num_inference_steps": num_inference_steps,
                "guidance_scale": guidance_scale, "mesh_resolution": mesh_resolution, "count": count}
    return GeneratedPool(torch.cat(views), torch.cat(ccms), objects, torch.cat(elevations), settings)


def save_generated_pool(pool: GeneratedPool, path: str | Path) -> Path:
    """Write ``pool`` as one safetensors file (module docstring); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "views": pool.views.to(torch.float16).contiguous(),
        "ccms": pool.ccms.to(torch.float16).contiguous(),
        "shape": torch.tensor([obj.shape for obj in pool.objects], dtype=torch.int64),
        "color": torch.tensor([obj.color for obj in pool.objects], dtype=torch.float32),
        "yaw": torch.tensor([obj.yaw for obj in pool.objects], dtype=torch.float32),
        "scale": torch.tensor([obj.scale for obj in pool.objects], dtype=torch.float32),
        "elevation": pool.elevations.to(torch.float32).contiguous(),
    }
    save_file(tensors, str(path), metadata={"format": "pt", "settings": json.dumps(pool.settings)})
    return path


def load_generated_pool(path: str | Path) -> GeneratedPool:
    """Read a pool written by :func:`save_generated_pool`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a safetensors pool (missing tensors, shapes that disagree), or an object that the
            held-out rule (:func:`atom.toyworld.crm_data.is_held_out`) excludes from training.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"generated pool {str(path)!r} not found (write one with "
                                "`python -m atom.toyworld.generated_pool out=<file>`)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            missing = [key for key in (*IMAGE_KEYS, *OBJECT_KEYS) if key not in handle.keys()]
            if missing:
                raise ValueError(f"generated pool {str(path)!r} lacks tensors {missing}; expected "
                                 f"{[*IMAGE_KEYS, *OBJECT_KEYS]}")
            tensors = {key: handle.get_tensor(key) for key in (*IMAGE_KEYS, *OBJECT_KEYS)}
            settings = json.loads((handle.metadata() or {}).get("settings", "{}"))
    except SafetensorError as err:
        raise ValueError(f"generated pool {str(path)!r} is not a safetensors file: {err}") from err
    n = tensors["shape"].shape[0]
    views, ccms = tensors["views"].float(), tensors["ccms"].float()
    if views.dim() != 5 or views.shape[:3] != (n, 6, 3) or ccms.shape != views.shape:
        raise ValueError(f"generated pool {str(path)!r}: views and ccms must both be [N={n}, 6, 3, T, T], got "
                         f"{list(views.shape)} and {list(ccms.shape)}")
    if tensors["color"].shape != (n, 3) or any(tensors[k].shape != (n,) for k in ("yaw", "scale", "elevation")):
        raise ValueError(f"generated pool {str(path)!r}: color must be [N={n}, 3] and yaw, scale, elevation [N]")
    objects = []
    for index in range(n):
        obj = PosedObject(int(tensors["shape"][index]), tuple(tensors["color"][index].tolist()),
                          float(tensors["yaw"][index]), float(tensors["scale"][index]))
        if is_held_out(obj.shape, obj.color, obj.yaw):
            raise ValueError(f"generated pool {str(path)!r}: object {index} ({obj.name}) is held out "
                             "(atom.toyworld.crm_data.is_held_out); a training pool may hold training objects only")
        objects.append(obj)
    return GeneratedPool(views, ccms, objects, tensors["elevation"].float(), settings)


@dataclass
class GeneratedPoolConfig:
    """``python -m atom.toyworld.generated_pool``: where to write, how many, with which stage models."""

    out: str = "???"
    count: int = 512
    models: str = "${atom_asset:toy_image_to_mesh}"
    batch_size: int = 16
    seed: int = 7
    num_inference_steps: int | None = None  # null: each stage's own default
    guidance_scale: float | None = None
    mesh_resolution: int = 32
    threads: int = 1


ConfigStore.instance().store(name="generated_pool", node=GeneratedPoolConfig)
register_configs()  # the ${atom_asset:...} resolver


@hydra.main(version_base="1.3", config_path=None, config_name="generated_pool")
def main(cfg: DictConfig) -> None:
    torch.set_num_threads(int(cfg.threads))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = time.perf_counter()
    pipeline = ImageToMeshPipeline.from_pretrained(os.path.expanduser(str(cfg.models)))
    pool = generate_pool(pipeline, int(cfg.count), torch.Generator().manual_seed(int(cfg.seed)),
                         int(cfg.batch_size), cfg.num_inference_steps, cfg.guidance_scale, int(cfg.mesh_resolution))
    pool.settings["seed"] = int(cfg.seed)
    path = save_generated_pool(pool, cfg.out)
    logger.info("wrote %s: %d objects in %.1f s; settings %s", path, len(pool), time.perf_counter() - started,
                OmegaConf.to_yaml(cfg).strip().replace("\n", ", "))


if __name__ == "__main__":
    main()
