"""``python -m atom.evaluate ckpt=...`` / ``atom-eval``: metrics of a trained checkpoint.

``metric=toy`` (default): generates a mesh for each prompt (all 64 Toy64 prompts by default), compares it with
the analytic ground truth (Chamfer-L1, F-score@0.05, volume IoU, color error, 3D R-precision, azimuthal
structure ratio, genus), prints a table and writes a JSON file. ``paraphrases=true`` adds the 64 held-out
rewordings of the Toy64 prompts (``atom.toyworld.paraphrases``) as a split of their own. Prompts outside the
toy vocabulary are generated and reported as having no ground truth.

``metric=clip clip.path=<CLIP folder or hub id>``: CLIP R@1, R@5 and mean CLIP similarity of 8-view turntable
renders (``atom.evaluation.clip_r_precision``). Prompts: ``prompts=[...]`` and/or ``prompts_file=``, else the
checkpoint's own prompt set; a prompt is "seen" when the checkpoint trained on it, else "unseen". Bad input
(no CLIP model, a missing checkpoint) exits with status 2 and a one-line reason before any mesh is made.

A checkpoint of CRM's reconstruction model (``system: crm`` in its training config) is recognised and
evaluated on the toy world's held-out posed objects instead (``atom.evaluation.reconstruction``: 3D metrics,
torus genus, PSNR/SSIM of novel views), with the settings it was trained with. An image-to-mesh folder
(``ckpt=atom/weights/toy_image_to_mesh``) is evaluated end to end on one picture of each held-out object
(``atom.evaluation.image_to_mesh``: 3D metrics, R@1 among the held-out objects, PSNR/SSIM of the generated views
and CCMs); its JSON goes to ``output=`` (default ``image_to_mesh_evaluation.json`` in the working directory,
since the bundled folder lives inside the package).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from atom.build import build_prompt_set, resolve_device
from atom.config import CONF_DIR, EvaluateConfig, EvaluationMetric, SystemKind, TrainConfig, register_configs
from atom.evaluation import CLIPLoadError, CLIPScorer, ViewProtocol, clip_r_precision
from atom.evaluation import format_table as format_clip_table
from atom.model import CheckpointError, resolve_checkpoint
from atom.prompts import PromptSet
from atom.render import make_rasterizer
from atom.toyworld.metrics import evaluate_to_file
from atom.toyworld.metrics import format_table as format_toy_table
from atom.toyworld.paraphrases import toy64_paraphrases
from atom.toyworld.shapes import toy64, toy64_split

register_configs()
logger = logging.getLogger("atom.evaluate")
MESH_BATCH = 8  # prompts per forward pass


def generate_meshes(checkpoint: Path, prompts: list[str], grid_resolution: int, device: str) -> list:
    """One CPU mesh per prompt from the checkpoint, ``MESH_BATCH`` prompts per pass."""
    from atom.pipelines import TextToMeshPipeline

    pipeline = TextToMeshPipeline.from_pretrained(checkpoint, device=resolve_device(device))
    meshes = []
    for start in range(0, len(prompts), MESH_BATCH):
        batch = pipeline(prompts[start : start + MESH_BATCH], grid_resolution=grid_resolution)
        meshes += [mesh.detach().to("cpu") for mesh in batch]
    return meshes


def requested_prompts(cfg: EvaluateConfig) -> list[str]:
    """``prompts=[...]`` followed by the lines of ``prompts_file=`` (either may be empty)."""
    prompts = list(cfg.prompts)
    if cfg.prompts_file:
        prompts += PromptSet.from_file(Path(cfg.prompts_file).expanduser()).prompts
    return list(dict.fromkeys(prompts))


def trained_prompt_set(checkpoint: Path) -> PromptSet | None:
    """The checkpoint's own prompt set (from its ``train_config.yaml``), or None with a warning."""
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.load(checkpoint / "train_config.yaml"))
        return build_prompt_set(OmegaConf.to_object(cfg).prompts)
    except (OSError, ValueError) as err:
        logger.warning("cannot rebuild the training prompts of %s (%s): no seen/unseen split", checkpoint, err)
        return None


def clip_prompt_set(cfg: EvaluateConfig, checkpoint: Path) -> PromptSet:
    """The prompts to score and their split: seen = trained on by the checkpoint, unseen = all others."""
    trained = trained_prompt_set(checkpoint)
    prompts = requested_prompts(cfg)
    if not prompts:
        if trained is None:
            raise ValueError(f"no prompts given and the prompt set of {checkpoint} cannot be rebuilt: pass "
                             "prompts=[...] or prompts_file=...")
        return trained
    seen = set(trained.train_prompts) if trained is not None else set(prompts)
    return PromptSet.from_list(prompts, test=[i for i, prompt in enumerate(prompts) if prompt not in seen],
                               name="requested")


def evaluate_clip(cfg: EvaluateConfig, checkpoint: Path) -> dict:
    scorer = CLIPScorer(cfg.clip.path, device=resolve_device(cfg.device), batch_size=cfg.clip.batch_size)
    prompt_set = clip_prompt_set(cfg, checkpoint)
    protocol = ViewProtocol(views=cfg.clip.views, elevation=cfg.clip.elevation, distance=cfg.clip.distance,
                            fov=cfg.clip.fov, resolution=cfg.clip.resolution)
    meshes = generate_meshes(checkpoint, prompt_set.prompts, cfg.grid_resolution, cfg.device)
    results = clip_r_precision(meshes, prompt_set, scorer, make_rasterizer(cfg.clip.rasterizer.value), protocol)
    output = Path(cfg.output) if cfg.output else checkpoint / "clip_r_precision.json"
    output.write_text(json.dumps(results, indent=2))
    print(format_clip_table(results), flush=True)
    print(f"\nwrote {output}", flush=True)
    return results


def evaluate_toy(cfg: EvaluateConfig, checkpoint: Path) -> dict:
    objects = toy64()
    prompts = requested_prompts(cfg) or [obj.prompt for obj in objects]
    paraphrases = toy64_paraphrases() if cfg.paraphrases else {}
    prompts += [prompt for prompt in paraphrases if prompt not in prompts]
    _, test = toy64_split()
    unseen = {objects[i].prompt for i in test}
    output = Path(cfg.output) if cfg.output else checkpoint / "evaluation.json"
    meshes = generate_meshes(checkpoint, prompts, cfg.grid_resolution, cfg.device)
    results = evaluate_to_file(prompts, meshes, output, unseen, paraphrases)
    print(format_toy_table(results), flush=True)
    print(f"\nwrote {output}", flush=True)
    return results


def checkpoint_train_config(checkpoint: Path) -> TrainConfig:
    """The typed training config saved with a checkpoint (``train_config.yaml``)."""
    merged = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.load(checkpoint / "train_config.yaml"))
    return OmegaConf.to_object(merged)


def evaluate_reconstruction_checkpoint(cfg: EvaluateConfig, checkpoint: Path, train: TrainConfig) -> dict:
    """CRM's held-out table for a reconstruction checkpoint, with the settings of its training run."""
    from atom.evaluation.reconstruction import evaluate_reconstruction, format_reconstruction_table
    from atom.model.reconstruction import ReconstructionModel
    from atom.toyworld.crm_data import held_out_objects

    crm = train.crm
    model = ReconstructionModel.from_pretrained(checkpoint, device=resolve_device(cfg.device))
    results = evaluate_reconstruction(model, held_out_objects(), make_rasterizer("torch"), crm.mesh_resolution,
                                      crm.eval_views, crm.eval_resolution, crm.eval_grid_resolution)
    output = Path(cfg.output) if cfg.output else checkpoint / "heldout_metrics.json"
    output.write_text(json.dumps(results, indent=2, default=float))
    print(format_reconstruction_table(results, per_object=True), flush=True)
    print(f"\nwrote {output}", flush=True)
    return results


def is_image_to_mesh_folder(path: str) -> bool:
    """A folder of the image-to-mesh pipeline: its ``image_to_mesh.json`` or its three stage sub-folders."""
    from atom.pipelines.image_to_mesh import INDEX_NAME, STAGES

    folder = Path(path).expanduser()
    return (folder / INDEX_NAME).is_file() or all((folder / stage).is_dir() for stage in STAGES)


def evaluate_image_to_mesh_folder(cfg: EvaluateConfig) -> dict:
    """The held-out table of the whole image-to-mesh chain (``atom.evaluation.image_to_mesh``)."""
    from atom.evaluation.image_to_mesh import evaluate_image_to_mesh, format_image_to_mesh_table
    from atom.pipelines import ImageToMeshPipeline

    pipeline = ImageToMeshPipeline.from_pretrained(cfg.ckpt, device=resolve_device(cfg.device),
                                                   num_samples=cfg.num_samples)
    results = evaluate_image_to_mesh(pipeline, make_rasterizer("torch"), num_inference_steps=cfg.num_inference_steps,
                                     guidance_scale=cfg.guidance_scale, seed=cfg.seed)
    output = Path(cfg.output) if cfg.output else Path("image_to_mesh_evaluation.json")
    output.write_text(json.dumps(results, indent=2, default=float))
    print(format_image_to_mesh_table(results, per_object=True), flush=True)
    print(f"\nwrote {output}", flush=True)
    return results


def evaluate_checkpoint(cfg: EvaluateConfig) -> dict:
    if is_image_to_mesh_folder(cfg.ckpt):
        return evaluate_image_to_mesh_folder(cfg)
    checkpoint = resolve_checkpoint(cfg.ckpt)
    if SystemKind(OmegaConf.load(checkpoint / "train_config.yaml").get("system", "atom")) is SystemKind.crm:
        return evaluate_reconstruction_checkpoint(cfg, checkpoint, checkpoint_train_config(checkpoint))
    if cfg.metric is EvaluationMetric.clip:
        return evaluate_clip(cfg, checkpoint)
    return evaluate_toy(cfg, checkpoint)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR / "evaluate"), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        evaluate_checkpoint(OmegaConf.to_object(cfg))
    except (CLIPLoadError, CheckpointError) as err:
        print(f"atom.evaluate: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
