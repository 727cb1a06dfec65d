"""Image -> mesh in the app (CRM): whether the tab is shown, the service behind it, and the tab.

The tab needs the image-to-mesh pipeline class (``atom.pipelines.ImageToMeshPipeline``) and its three stage
models (``image_ckpt=``: a folder with ``views/``, ``ccms/``, ``reconstruction/``, or ``image_to_mesh.json``,
e.g. the bundled ``atom/weights/toy_image_to_mesh``). When either is missing, or the models do not load, the
tab is built hidden, holding the reason (also logged once at start), so the page never shows a control that
cannot work.

A request runs in two steps, so the page shows the six generated views before the mesh: the picture is cut out
and placed (``atom.pipelines.image_inputs``), stages 1 and 2 make the views and CCMs (shown), then the
reconstruction makes the mesh, which is cleaned up, colored and exported as the text tab's meshes are
(``atom.app.backend.finish_mesh``). Each request writes into a folder of its own::

    <out_dir>/images/0002_cube/input.png, views.png, ccms.png, mesh.glb (+ mesh_uv.glb)
"""

from __future__ import annotations

import importlib
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from atom.app.backend import MeshFiles, MeshOptions, finish_mesh, mesh_writer
from atom.config import AppConfig
from atom.prompts.file_names import prompt_slug

logger = logging.getLogger(__name__)

PIPELINE_MODULE = "atom.pipelines"
PIPELINE_CLASS = "ImageToMeshPipeline"


@dataclass(frozen=True)
class Availability:
    """Whether the tab is shown, why (or why not), and the loaded service when it is."""

    available: bool
    reason: str
    service: ImageToMeshService | None = field(default=None, compare=False)


def image_to_mesh_availability(image_ckpt: str | None) -> Availability:
    """Possible only when the pipeline class imports and ``image_ckpt`` is an existing folder (nothing loaded)."""
    try:
        module = importlib.import_module(PIPELINE_MODULE)
    except ImportError as err:
        return Availability(False, f"this version of atom has no {PIPELINE_MODULE} ({err})")
    if not hasattr(module, PIPELINE_CLASS):
        return Availability(False, f"this version of atom has no {PIPELINE_MODULE}.{PIPELINE_CLASS} (CRM part 2)")
    if image_ckpt is None:
        return Availability(False, "no image-to-mesh models given (start with image_ckpt=<folder>)")
    if not Path(image_ckpt).expanduser().is_dir():
        return Availability(False, f"image_ckpt={image_ckpt!r} is not a folder")
    return Availability(True, f"image-to-mesh models: {image_ckpt}")


def open_image_to_mesh(image_ckpt: str | None, device: str, out_dir: Path, texture_resolution: int = 512,
                       max_grid_resolution: int = 128) -> Availability:
    """:func:`image_to_mesh_availability`, then the models loaded into a service; a load failure hides the tab
    with its reason (logged)."""
    status = image_to_mesh_availability(image_ckpt)
    if not status.available:
        logger.info("image-to-mesh tab hidden: %s", status.reason)
        return status
    try:
        service = ImageToMeshService.from_pretrained(image_ckpt, device, out_dir, texture_resolution,
                                                     max_grid_resolution)
    except Exception as err:  # ImageToMeshError, CheckpointError, a bad device
        reason = f"the image-to-mesh models in {image_ckpt!r} did not load: {type(err).__name__}: {err}"
        logger.error("image-to-mesh tab hidden: %s", reason)
        return Availability(False, reason)
    logger.info("image-to-mesh tab: %s", service.description)
    return Availability(True, status.reason, service)


@dataclass
class ViewsResult:
    """Step 1 of a request: the folder, stage 1's input and the generated views and CCMs (tensors and PNGs), and
    the state of the request's random generator after them (step 2 draws the reconstruction's noise from it,
    as ``python -m atom.image_to_mesh`` does: one seed, one mesh)."""

    folder: Path
    input_png: Path
    views_png: Path
    ccms_png: Path
    views: Tensor
    ccms: Tensor
    generator_state: Tensor
    seconds: float


@dataclass(frozen=True)
class ImageMesh:
    """Step 2: the finished mesh files and the reconstruction + finishing seconds."""

    mesh: MeshFiles
    reconstruction_s: float
    finish_s: float


class ImageToMeshService:
    """Loaded image-to-mesh stage models and the folder they write to; one request at a time (the app's queue)."""

    def __init__(self, pipeline, models: str, out_dir: Path, texture_resolution: int = 512,
                 max_grid_resolution: int = 128) -> None:
        self.pipeline, self.models, self.out_dir = pipeline, models, Path(out_dir)
        self.texture_resolution = texture_resolution
        self.max_grid_resolution = max_grid_resolution
        self._counter = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, models: str, device: str, out_dir: Path, texture_resolution: int = 512,
                        max_grid_resolution: int = 128) -> ImageToMeshService:
        from atom.build import resolve_device
        from atom.pipelines import ImageToMeshPipeline

        pipeline = ImageToMeshPipeline.from_pretrained(models, device=resolve_device(device))
        return cls(pipeline, models, out_dir, texture_resolution, max_grid_resolution)

    @property
    def description(self) -> str:
        return (f"{self.models} · input {self.pipeline.input_size} px, views {self.pipeline.tile_size} px · "
                f"{self.pipeline.device}")

    @property
    def default_steps(self) -> int:
        """The views model's own DDIM steps (the page's default)."""
        return self.pipeline.views_model.config.num_inference_steps

    def generate_views(self, picture: str | Path | None, seed: int, num_inference_steps: int | None) -> ViewsResult:
        """Cut out and place ``picture``, then stages 1 and 2. Raises ``ValueError`` naming the problem for a
        missing or unusable picture or bad settings; a stage failure as ``StageError``."""
        from atom.render.images import image_grid, to_pil

        if picture is None:
            raise ValueError("no picture: upload an image of one object (an RGBA cut-out or on a plain background)")
        if num_inference_steps is not None and num_inference_steps < 1:
            raise ValueError(f"diffusion steps must be >= 1, got {num_inference_steps}")
        started = time.perf_counter()
        prepared = self.pipeline.prepare(picture)  # ImageInputError (a ValueError) names the file
        folder = self._folder(Path(picture).stem)
        generator = torch.Generator().manual_seed(int(seed))
        views = self.pipeline.generate_views(prepared.image[None], num_inference_steps=num_inference_steps,
                                             generator=generator, num_samples=self.pipeline.num_samples)
        ccms = self.pipeline.generate_ccms(views, num_inference_steps=num_inference_steps, generator=generator)
        paths = folder / "input.png", folder / "views.png", folder / "ccms.png"
        to_pil(prepared.image).save(paths[0])
        image_grid(views[0].cpu(), rows=1).save(paths[1])
        image_grid(ccms[0].cpu(), rows=1).save(paths[2])
        return ViewsResult(folder, *paths, views, ccms, generator.get_state(), time.perf_counter() - started)

    def reconstruct(self, step: ViewsResult, options: MeshOptions) -> ImageMesh:
        """Stage 3 on a request's views and CCMs, then clean-up, colors and export (``mesh.glb``, with
        ``options.uv_texture`` also ``mesh_uv.glb``)."""
        if not 8 <= options.grid_resolution <= self.max_grid_resolution:
            raise ValueError(f"grid resolution must be in [8, {self.max_grid_resolution}], got "
                             f"{options.grid_resolution}")
        started = time.perf_counter()
        generator = torch.Generator()
        generator.set_state(step.generator_state)
        triplanes, meshes = self.pipeline.reconstruct(step.views, step.ccms, generator, options.grid_resolution,
                                                      self.pipeline.num_samples)
        reconstruction_s = time.perf_counter() - started
        writer = mesh_writer(options, step.folder, self.texture_resolution)
        mesh = finish_mesh(writer, meshes[0], self.pipeline.reconstruction.color_field(triplanes[0]), step.folder.name,
                           step.folder / "mesh", obj=False, uv=options.uv_texture)
        finish_s = time.perf_counter() - started - reconstruction_s
        logger.info("image to mesh into %s: views + CCMs %.2f s, reconstruction %.2f s, finishing %.2f s",
                    step.folder, step.seconds, reconstruction_s, finish_s)
        return ImageMesh(mesh, reconstruction_s, finish_s)

    def _folder(self, name: str) -> Path:
        with self._lock:
            index = next(self._counter)
        folder = self.out_dir / "images" / prompt_slug(name, index)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def image_to_mesh_tab(availability: Availability, cfg: AppConfig, viewer_background=None):
    """The "Image to mesh" tab inside the current ``gr.Tabs``: visible only when ``availability.available``
    (then with its service); ``cfg`` gives the page's grid and clean-up defaults. API names (``gradio_client``, one
    session): ``/image_views`` (picture, seed, steps -> input, views, CCMs) then ``/image_mesh`` (grid, UV ->
    the mesh files). Returns the ``gr.Tab``."""
    import gradio as gr

    from atom.app.errors import user_errors

    service = availability.service
    if not availability.available or service is None:
        with gr.Tab("Image to mesh", id="image", visible=False) as tab:
            gr.Markdown(f"Image to mesh is not available: {availability.reason}.")
        return tab

    def views_step(picture: str | None, seed: float, steps: float):
        with user_errors("image to mesh"):
            step = service.generate_views(picture, int(seed or 0), int(steps) if steps else None)
        info = f"Views and CCMs in **{step.seconds:.2f} s**; reconstructing the mesh..."
        return step, str(step.input_png), str(step.views_png), str(step.ccms_png), None, None, None, info

    def mesh_step(step: ViewsResult | None, grid: float, uv: bool):
        if step is None:
            raise gr.Error("generate the views first (upload a picture, then Generate)")
        with user_errors("image to mesh"):
            post = cfg.postprocess
            options = MeshOptions(int(grid), post.largest_component, post.min_component_fraction, post.target_faces,
                                  post.normalize, uv_texture=bool(uv))
            result = service.reconstruct(step, options)
        mesh = result.mesh
        if mesh.is_empty:
            raise gr.Error(f"the mesh came out empty at grid resolution {int(grid)}")
        info = (f"**{mesh.faces:,} faces, {mesh.vertices:,} vertices.** Views and CCMs {step.seconds:.2f} s, "
                f"reconstruction {result.reconstruction_s:.2f} s, clean-up, colors and export {result.finish_s:.2f} s.")
        uv_file = str(mesh.uv_glb) if mesh.uv_glb is not None else None
        return str(mesh.glb), str(mesh.glb), uv_file, info

    with gr.Tab("Image to mesh", id="image") as tab:
        gr.Markdown(f"**Models:** {service.description}. One picture of one object (an RGBA cut-out or on a plain "
                    "background) -> six views -> six CCMs -> a mesh.")
        with gr.Row():
            with gr.Column(scale=2):
                picture = gr.Image(label="Picture", type="filepath", image_mode=None, format="png",
                                   sources=["upload"], elem_id="image-input", height=260)
                run_button = gr.Button("Generate", variant="primary", elem_id="image-generate")
                with gr.Accordion("Settings", open=False):
                    seed = gr.Number(0, precision=0, label="Seed")
                    steps = gr.Slider(1, 100, value=service.default_steps, step=1, label="Diffusion steps")
                    grid = gr.Slider(8, service.max_grid_resolution, value=cfg.grid_resolution, step=8,
                                     label="Grid resolution (cells per axis)")
                    uv = gr.Checkbox(False, label="Also bake a UV-textured GLB")
                prepared = gr.Image(label="Input to stage 1 (cut out, centred on grey)", type="filepath",
                                    interactive=False, height=160)
            with gr.Column(scale=3):
                viewer = gr.Model3D(label="Mesh (drag to turn, scroll to zoom)", elem_id="image-viewer",
                                    clear_color=viewer_background, height=360)
                views = gr.Image(label="Six generated views (front, left, bottom, back, right, top)",
                                 type="filepath", interactive=False, elem_id="image-views", height=140)
                ccms = gr.Image(label="Their canonical coordinate maps", type="filepath", interactive=False,
                                height=140)
                info = gr.Markdown(elem_id="image-info")
                with gr.Row():
                    glb = gr.DownloadButton("GLB", elem_id="image-download-glb")
                    uv_glb = gr.DownloadButton("UV-textured GLB", elem_id="image-download-uv")
        # two events, so the views show before the mesh (a streaming generator would do it in one, but Gradio's
        # Model3D then never draws its canvas); the second runs only when the first succeeded
        step = gr.State(None)
        run_button.click(views_step, [picture, seed, steps], [step, prepared, views, ccms, viewer, glb, uv_glb, info],
                         api_name="image_views").success(mesh_step, [step, grid, uv], [viewer, glb, uv_glb, info],
                                                         api_name="image_mesh")
    return tab
