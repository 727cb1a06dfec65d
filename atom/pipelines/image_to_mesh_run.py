"""A picture (or a prompt) -> six views -> six CCMs -> a textured mesh, previews, ``index.html`` and
``summary.json``: what ``python -m atom.image_to_mesh`` runs (``run_image_to_mesh(cfg)`` with an
``atom.config.ImageToMeshConfig``).

Cheap checks come first: settings, output folder, the picture (readable, large enough, an object that can be
cut out: :mod:`atom.pipelines.image_inputs`), then the three stage models
(:class:`~atom.pipelines.image_to_mesh.ImageToMeshPipeline`). With ``prompt=`` a text-to-image model (the
bundled toy prior by default, :mod:`atom.toyworld.prior`) first draws the picture from the caption
``"<prompt>, <view> view"``, which is saved and then read like any ``image=``.

Each stage writes its output as soon as it is done, so a stage that fails (reported as a
:class:`~atom.pipelines.image_to_mesh.StageError` naming it; ``summary.json`` records it too) leaves the
earlier stages' files on disk. Layout of the output folder::

    prompt_image.png              with prompt=: the text-to-image model's picture (then read as image=)
    input.png                     stage 1's input: the object cut out, centred and padded onto grey (S x S)
    views.png, ccms.png           stages 1 and 2: strips T x 6T in CRM_VIEW_NAMES order (atom.reconstruct reads them;
                                  with several samples per picture, the first)
    mesh.glb                      the mesh (glb | obj + mtl + png | ply; UV-textured by default), +Y up
    previews/inputs.png           the views (top row) and CCMs (bottom row)
    previews/mesh.png, mesh.gif   turntable renders of the mesh
    index.html, summary.json      the page and the run's record (per-stage seconds)

Timing: ``summary["timing"]`` holds each stage's seconds; ``per_image_s`` is the sum of the stages one more
picture costs (preprocessing, both diffusion stages, reconstruction, export with UV baking and previews):
everything but reading the models (and the prompt's picture).
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor
from tqdm import tqdm

from atom.config import ImageToMeshConfig, TextToImageConfig
from atom.pipelines.image_inputs import cut_out, place_object
from atom.pipelines.image_to_mesh import ImageToMeshPipeline, StageError, stage_errors
from atom.pipelines.index_page import write_index
from atom.pipelines.inference import SUMMARY_NAME, InferenceError, output_dir, run_device, timer
from atom.pipelines.reconstruction_run import advance_stage, check_settings, write_reconstruction
from atom.prompts.views import view_prompt
from atom.render.crm_views import CRM_VIEW_NAMES
from atom.render.images import image_grid, to_pil
from atom.tables import markdown_table

logger = logging.getLogger(__name__)

PROMPT_IMAGE = "prompt_image.png"
INPUT_IMAGE = "input.png"
VIEWS_IMAGE = "views.png"
CCMS_IMAGE = "ccms.png"
PER_IMAGE_STAGES = ("preprocess_s", "views_s", "ccms_s", "reconstruction_s", "export_s")


def check_run_settings(cfg: ImageToMeshConfig) -> None:
    """Exactly one of ``image`` and ``prompt``, and the numbers Hydra's types cannot check.

    Raises:
        InferenceError: naming each problem."""
    has_image, has_prompt = cfg.image is not None, cfg.prompt is not None
    if has_image == has_prompt:
        given = "both" if has_image else "neither"
        raise InferenceError(f"give exactly one of image=<picture file> and prompt=<text>, got {given}")
    if has_prompt and not cfg.prompt.strip():
        raise InferenceError(f"prompt is empty ({cfg.prompt!r}): type what to make, e.g. prompt='a red cube'")
    problems = []
    if cfg.foreground_ratio is not None and not 0.0 < cfg.foreground_ratio <= 1.0:
        problems.append(f"foreground_ratio must be in (0, 1] or null (keep the picture's framing), got "
                        f"{cfg.foreground_ratio}")
    if cfg.num_inference_steps is not None and cfg.num_inference_steps < 1:
        problems.append(f"num_inference_steps must be >= 1 or null (each model's own), got {cfg.num_inference_steps}")
    if cfg.guidance_scale is not None and cfg.guidance_scale < 0:
        problems.append(f"guidance_scale must be >= 0 or null (each model's own), got {cfg.guidance_scale}")
    if cfg.num_samples is not None and cfg.num_samples < 1:
        problems.append(f"num_samples must be >= 1 or null (the models folder's), got {cfg.num_samples}")
    t2i = cfg.text_to_image
    if has_prompt and (t2i.num_inference_steps < 1 or t2i.guidance_scale < 0 or t2i.text_max_length < 1):
        problems.append(f"text_to_image needs num_inference_steps >= 1, guidance_scale >= 0 and text_max_length >= 1, "
                        f"got {t2i.num_inference_steps}, {t2i.guidance_scale} and {t2i.text_max_length}")
    if problems:
        raise InferenceError("; ".join(problems))
    check_settings(cfg)


def load_pipeline(cfg: ImageToMeshConfig, device: torch.device) -> ImageToMeshPipeline:
    """The three stage models of ``cfg`` (``models`` and the per-stage overrides)."""
    return ImageToMeshPipeline.from_pretrained(cfg.models, views=cfg.views_model, ccms=cfg.ccms_model,
                                               reconstruction=cfg.reconstruction_model, device=device,
                                               num_samples=cfg.num_samples)


def sample_prompt_images(cfg: TextToImageConfig, prompts: list[str], generator: torch.Generator,
                         device: torch.device) -> tuple[Tensor, list[str]]:
    """Draw one picture per prompt from the text-to-image model: ``[B, 3, H, W]`` in [0, 1], and the captions
    they were drawn from (each prompt with its view suffix). A camera-conditioned prior draws every picture
    from the camera in the middle of the caption's view (`atom.toyworld.prior_check.view_camera`; azimuth 0
    without a suffix), at the prior check's elevation."""
    from atom.guidance.camera_conditioning import camera_feature_dim, camera_features
    from atom.prompts.views import DREAMFUSION4, read_view_scheme
    from atom.text import MiniLMTextEncoder
    from atom.toyworld.prior import load_prior, sample_prior
    from atom.toyworld.prior_check import CHECK_ELEVATION, view_camera

    captions = [view_prompt(prompt, cfg.view.value) if cfg.view is not None else prompt for prompt in prompts]
    unet, scheduler = load_prior(cfg.path)
    unet = unet.to(device)
    encoder = MiniLMTextEncoder(cfg.text_path, max_length=cfg.text_max_length)
    cond = encoder.encode(captions).tokens
    uncond = encoder.encode([""], allow_empty=True).tokens
    cameras = None
    if camera_feature_dim(unet) is not None:
        scheme = read_view_scheme(cfg.path) or DREAMFUSION4
        azimuth, elevation = view_camera(scheme, cfg.view.value) if cfg.view is not None else (0.0, CHECK_ELEVATION)
        cameras = camera_features([azimuth] * len(prompts), [elevation] * len(prompts))
        logger.info("camera-conditioned text-to-image model: pictures drawn at azimuth %.1f, elevation %.1f deg",
                    azimuth, elevation)
    images = sample_prior(unet, scheduler, cond, uncond, cfg.guidance_scale, cfg.num_inference_steps,
                          generator=generator, camera_features=cameras)
    return images, captions


def sample_prompt_image(cfg: TextToImageConfig, prompt: str, generator: torch.Generator,
                        device: torch.device) -> tuple[Tensor, str]:
    """One picture ``[3, H, W]`` for ``prompt`` (:func:`sample_prompt_images`) and its caption."""
    images, captions = sample_prompt_images(cfg, [prompt], generator, device)
    return images[0], captions[0]


def run_image_to_mesh(cfg: ImageToMeshConfig) -> dict:
    """Check every input, run the stages, export and preview the mesh into the output folder. Returns the
    summary (also ``summary.json``).

    Raises:
        InferenceError: bad settings, both or neither of image and prompt, or an existing non-empty output
            folder without ``overwrite``.
        ImageInputError: a picture that cannot be used (names the file and what is accepted).
        ImageToMeshError, CheckpointError: stage models that cannot be found, loaded or combined.
        StageError: a stage failed while running (names it; the earlier stages' files stay in the folder).
    """
    started, now = time.perf_counter(), datetime.datetime.now()
    timing: dict[str, float] = {}
    check_run_settings(cfg)
    device = run_device(cfg.device)
    out_dir = output_dir(cfg.out_dir, cfg.overwrite, now, root="outputs/image_to_mesh")
    summary: dict = {
        "created": now.isoformat(timespec="seconds"), "out_dir": str(out_dir), "device": str(device),
        "seed": cfg.seed, "image": cfg.image, "prompt": cfg.prompt, "status": "running",
        "timing": timing,
    }
    stages = (["text_to_image"] if cfg.prompt is not None else []) + ["preprocess", "views", "ccms",
                                                                        "reconstruction", "export"]
    found = None
    with tqdm(total=len(stages) + 1, desc="image to mesh", unit="stage", disable=not cfg.progress,
              dynamic_ncols=True, postfix="load") as bar:
        if cfg.image is not None:
            with timer(timing, "read_s"):  # picture errors first: reading is cheaper than loading the models
                found = cut_out(cfg.image)
        with timer(timing, "load_s"):
            pipeline = load_pipeline(cfg, device)
        summary.update(models=pipeline.paths, input_size=pipeline.input_size, tile_size=pipeline.tile_size)
        out_dir.mkdir(parents=True, exist_ok=True)
        generator = torch.Generator().manual_seed(cfg.seed)
        try:
            if cfg.prompt is not None:
                advance_stage(bar, "text_to_image")
                with timer(timing, "text_to_image_s"), stage_errors("text_to_image"):
                    image, caption = sample_prompt_image(cfg.text_to_image, cfg.prompt.strip(), generator, device)
                    to_pil(image).save(out_dir / PROMPT_IMAGE)
                summary["text_to_image"] = {"path": cfg.text_to_image.path, "caption": caption,
                                            "image": PROMPT_IMAGE}
            advance_stage(bar, "preprocess")
            with timer(timing, "preprocess_s"), stage_errors("preprocess"):
                if found is None:  # the prompt's picture, read back as image= would be
                    found = cut_out(out_dir / PROMPT_IMAGE)
                image, _ = place_object(found.rgb, found.mask, pipeline.input_size, cfg.foreground_ratio)
                to_pil(image).save(out_dir / INPUT_IMAGE)
            summary["preprocess"] = {"cut_out": found.how, "background": found.background,
                                     "foreground_ratio": cfg.foreground_ratio, "image": INPUT_IMAGE}
            diffusion = {"num_inference_steps": cfg.num_inference_steps, "guidance_scale": cfg.guidance_scale,
                         "generator": generator}
            advance_stage(bar, "views")
            with timer(timing, "views_s"):
                views = pipeline.generate_views(image[None], num_samples=pipeline.num_samples, **diffusion)
                image_grid(views[0].cpu(), rows=1).save(out_dir / VIEWS_IMAGE)
            advance_stage(bar, "ccms")
            with timer(timing, "ccms_s"):
                ccms = pipeline.generate_ccms(views, **diffusion)
                image_grid(ccms[0].cpu(), rows=1).save(out_dir / CCMS_IMAGE)
            advance_stage(bar, "reconstruction")
            with timer(timing, "reconstruction_s"):
                triplanes, meshes = pipeline.reconstruct(views, ccms, generator, cfg.grid_resolution,
                                                         pipeline.num_samples)
            advance_stage(bar, "export")
            with timer(timing, "export_s"), stage_errors("export"):  # clean-up, colors, UV baking, previews
                color_field = pipeline.reconstruction.color_field(triplanes[0])
                record = write_reconstruction(cfg, meshes[0], color_field, views[0].cpu(), ccms[0].cpu(), out_dir)
            bar.update(1)
        except StageError as err:
            summary.update(status="failed", failed_stage=err.stage, error=str(err))
            err.out_dir = out_dir
            _write_summary(summary, started, out_dir)
            raise
    if record["status"] != "ok":
        logger.warning("the reconstruction is empty: no surface crosses the grid; nothing exported")
    name = Path(cfg.image).name if cfg.image is not None else cfg.prompt.strip()
    summary.update(
        status="ok", checkpoint=cfg.models or pipeline.paths["reconstruction"],
        grid_resolution=cfg.grid_resolution or pipeline.reconstruction.model.config.grid_resolution,
        diffusion={"num_inference_steps": cfg.num_inference_steps, "guidance_scale": cfg.guidance_scale,
                   "num_samples": pipeline.num_samples},
        outputs={"views": VIEWS_IMAGE, "ccms": CCMS_IMAGE, "view_order": list(CRM_VIEW_NAMES)},
        export=OmegaConf.to_container(OmegaConf.structured(cfg.export), enum_to_str=True),
        postprocess=OmegaConf.to_container(OmegaConf.structured(cfg.postprocess), enum_to_str=True),
        objects=[{"index": 0, "name": name, **record}],
    )
    _write_summary(summary, started, out_dir)
    write_index(out_dir, summary)
    return summary


def _write_summary(summary: dict, started: float, out_dir: Path) -> None:
    """Total and per-image seconds into ``summary["timing"]`` (rounded), then ``summary.json``."""
    timing = summary["timing"]
    timing["per_image_s"] = sum(timing.get(key, 0.0) for key in PER_IMAGE_STAGES)
    timing["total_s"] = time.perf_counter() - started
    summary["timing"] = {key: round(value, 3) for key, value in timing.items()}
    (out_dir / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def image_to_mesh_table(summary: dict) -> str:
    """The run as a table (the mesh) and its per-stage timings, ending with the end-to-end seconds."""
    rows = [(r["name"], r["status"], r["faces"], r["vertices"], r.get("mesh", "-")) for r in summary["objects"]]
    timing = summary["timing"]
    stages = ", ".join(f"{key.removesuffix('_s')} {value:.2f} s" for key, value in timing.items()
                       if key not in ("per_image_s", "total_s"))
    return (markdown_table(("input", "status", "faces", "vertices", "file"), rows)
            + f"\n\ngrid {summary['grid_resolution']}, input {summary['input_size']} px, tiles {summary['tile_size']} "
              f"px, {summary['diffusion']['num_samples']} sample(s) per picture, {summary['device']}; {stages}\n"
              f"end to end: {timing['per_image_s']:.2f} s per image (without loading the models), "
              f"{timing['total_s']:.2f} s in all")

