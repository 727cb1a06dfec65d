"""The Gradio page: text to mesh, interpolation between prompts, and (when available) image to mesh.

Offline by construction: no analytics (``analytics_enabled=False``), a theme whose fonts are the system's
(Gradio's default theme asks a web font service for its fonts), no share link, no server-side rendering. The
3D viewer is Gradio's ``Model3D`` (the Babylon.js viewer bundled in the wheel); the browser test records
every request the page makes and fails on any that leaves localhost.

Every handler turns a bad input or a failure into a ``gr.Error`` message in the page (the traceback goes to
the server log only). Requests wait in one queue and run one at a time (the model is shared); showing a
step of an interpolation walk reads the session's cached files and does not wait for the model.

API names (``gradio_client``): ``/generate``, ``/interpolate``, ``/show_step``; with the image tab
``/image_views`` then ``/image_mesh``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from atom.app.backend import MeshFiles, MeshOptions, TextToMeshService
from atom.app.errors import user_errors
from atom.app.image_to_mesh import Availability, image_to_mesh_tab
from atom.config import AppConfig
from atom.prompts import PromptSet

logger = logging.getLogger(__name__)

SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "sans-serif")
SYSTEM_MONO_FONTS = ("ui-monospace", "monospace")
VIEWER_BACKGROUND = (0.94, 0.94, 0.94, 1.0)  # RGBA in [0, 1]: a light grey behind the mesh
EXAMPLES_PER_PAGE = 8


def offline_theme() -> gr.themes.Base:
    """Gradio's base theme with system fonts only: the page loads no font from anywhere."""
    return gr.themes.Base(font=SYSTEM_FONTS, font_mono=SYSTEM_MONO_FONTS)


def build_demo(service: TextToMeshService | None, load_error: str | None, examples: PromptSet | None,
               cfg: AppConfig, image: Availability) -> gr.Blocks:
    """The page. ``service`` is ``None`` when the checkpoint did not load; ``load_error`` then says why, at the
    top of the page and in every request's error message."""

    def require_service() -> TextToMeshService:
        if service is None:
            raise gr.Error(f"no model is loaded: {load_error}")
        return service

    def options(grid: float, largest: bool, min_fraction: float, target_faces: float | None, normalize: bool,
                uv: bool) -> MeshOptions:
        target = int(target_faces) if target_faces else None
        return MeshOptions(int(grid), bool(largest), float(min_fraction), target, bool(normalize), bool(uv))

    def generate(prompt: str, grid: float, largest: bool, min_fraction: float, target_faces: float | None,
                 normalize: bool, uv: bool):
        model = require_service()
        with user_errors("generation"):
            result = model.generate(prompt or "", options(grid, largest, min_fraction, target_faces, normalize, uv))
        mesh = result.meshes[0]
        if mesh.is_empty:
            raise gr.Error(f"the mesh of {prompt.strip()!r} came out empty at grid resolution {int(grid)}")
        info = (f"**{mesh.faces:,} faces, {mesh.vertices:,} vertices.** Generated in "
                f"**{1000 * result.network_s:.0f} ms** (text encoding, triplane and mesh extraction at grid "
                f"{int(grid)}); clean-up, colors and export {result.finish_s:.2f} s.")
        uv_file = str(mesh.uv_glb) if mesh.uv_glb is not None else None  # plain paths: the API returns files
        return str(mesh.glb), str(mesh.glb), str(mesh.obj), uv_file, info

    def interpolate(prompts_text: str, steps: float, mode: str, grid: float):
        model = require_service()
        prompts = [line.strip() for line in (prompts_text or "").splitlines() if line.strip()]
        if len(prompts) < 2:
            raise gr.Error(f"interpolation needs at least 2 prompts, one per line; got {len(prompts)}")
        post = cfg.postprocess
        mesh_options = MeshOptions(int(grid), post.largest_component, post.min_component_fraction,
                                   post.target_faces, post.normalize, uv_texture=False)
        with user_errors("interpolation"):
            result = model.interpolate(prompts, int(steps), mode, mesh_options)
        frames = [frame(mesh) for mesh in result.meshes]
        info = (f"{len(frames)} meshes generated in one pass in **{1000 * result.network_s:.0f} ms**; "
                f"clean-up, colors and export {result.finish_s:.2f} s. Move the slider to walk.")
        slider = gr.Slider(minimum=0, maximum=len(frames) - 1, value=0, step=1, interactive=True, visible=True)
        return frames, slider, frames[0][1], caption(frames, 0), info

    def show_step(frames: list[tuple[str, str | None]] | None, index: float):
        if not frames:
            raise gr.Error("generate a walk first")
        k = min(max(int(index), 0), len(frames) - 1)
        return frames[k][1], caption(frames, k)

    with gr.Blocks(title="atom: text to mesh", analytics_enabled=False) as demo:
        gr.Markdown("# atom: text to mesh\nOne forward pass per prompt: type a prompt, turn the mesh around, "
                    "walk between prompts.")
        status = (f"**Model:** {service.description}" if service is not None else
                  f"**The checkpoint could not be loaded.** {load_error}")
        gr.Markdown(status, elem_id="status")
        with gr.Tabs():
            with gr.Tab("Text to mesh", id="text"):
                with gr.Row():
                    with gr.Column(scale=2):
                        prompt = gr.Textbox(label="Prompt", placeholder="a red cube", elem_id="prompt", lines=1)
                        run = gr.Button("Generate", variant="primary", elem_id="generate")
                        with gr.Accordion("Grid and clean-up", open=False):
                            grid = gr.Slider(8, cfg.max_grid_resolution, value=cfg.grid_resolution, step=8,
                                             label="Grid resolution (cells per axis)")
                            post = cfg.postprocess
                            largest = gr.Checkbox(post.largest_component, label="Keep only the largest part")
                            min_fraction = gr.Slider(0.0, 0.2, value=post.min_component_fraction, step=0.005,
                                                     label="Drop parts smaller than this share of the faces")
                            target_faces = gr.Number(post.target_faces or 0, precision=0, minimum=0,
                                                     label="Decimate to about this many faces (0: keep all)")
                            normalize = gr.Checkbox(post.normalize, label="Centre and scale to [-1, 1]")
                            uv = gr.Checkbox(False, label="Also bake a UV-textured GLB (xatlas: ~20 s at 30k faces)")
                        example_sets(examples, prompt)
                    with gr.Column(scale=3):
                        viewer = gr.Model3D(label="Mesh (drag to turn, scroll to zoom)", elem_id="viewer",
                                            clear_color=VIEWER_BACKGROUND, height=420)
                        info = gr.Markdown(elem_id="info")
                        with gr.Row():
                            glb = gr.DownloadButton("GLB", elem_id="download-glb")
                            obj = gr.DownloadButton("OBJ", elem_id="download-obj")
                            uv_glb = gr.DownloadButton("UV-textured GLB", elem_id="download-uv")
                inputs = [prompt, grid, largest, min_fraction, target_faces, normalize, uv]
                outputs = [viewer, glb, obj, uv_glb, info]
                run.click(generate, inputs, outputs, api_name="generate")
                prompt.submit(generate, inputs, outputs, api_visibility="private")
            with gr.Tab("Interpolation", id="walk"):
                frames = gr.State([])
                with gr.Row():
                    with gr.Column(scale=2):
                        walk_prompts = gr.Textbox(label="Prompts, one per line (two or more)", lines=3,
                                                  elem_id="walk-prompts")
                        steps = gr.Slider(2, 9, value=cfg.interpolation_steps, step=1,
                                          label="Meshes per pair of prompts (both ends included)")
                        mode = gr.Radio(["linear", "slerp"], value="linear", label="Interpolation")
                        walk_grid = gr.Slider(8, cfg.max_grid_resolution, value=cfg.grid_resolution, step=8,
                                              label="Grid resolution (cells per axis)")
                        walk_run = gr.Button("Generate the walk", variant="primary", elem_id="walk-generate")
                        walk_info = gr.Markdown()
                    with gr.Column(scale=3):
                        walk_viewer = gr.Model3D(label="Mesh", clear_color=VIEWER_BACKGROUND, height=420,
                                                 elem_id="walk-viewer")
                        walk_caption = gr.Markdown()
                        step = gr.Slider(0, 1, value=0, step=1, label="Step along the walk", visible=False)
                walk_run.click(interpolate, [walk_prompts, steps, mode, walk_grid],
                               [frames, step, walk_viewer, walk_caption, walk_info], api_name="interpolate")
                step.change(show_step, [frames, step], [walk_viewer, walk_caption], api_name="show_step",
                            concurrency_limit=None, show_progress="hidden")
            image_to_mesh_tab(image, cfg, VIEWER_BACKGROUND)
    return demo


def frame(mesh: MeshFiles) -> tuple[str, str | None]:
    """One step of a walk as kept in the session state: ``(label, GLB path or None when empty)``."""
    return mesh.label, (str(mesh.glb) if mesh.glb is not None else None)


def caption(frames: list[tuple[str, str | None]], index: int) -> str:
    label, path = frames[index]
    return f"Step {index + 1} of {len(frames)}: **{label}**" + ("" if path else " (empty mesh)")


def example_sets(examples: PromptSet | None, prompt: gr.Textbox) -> None:
    """Clickable example prompts, the run's training prompts and its held-out prompts apart."""
    if examples is None:
        return
    for title, prompts in ((f"Seen in training ({len(examples.train)} prompts)", examples.train_prompts),
                           (f"Unseen: held out from training ({len(examples.test)} prompts)", examples.test_prompts)):
        if prompts:
            gr.Examples([[p] for p in prompts], inputs=[prompt], label=title, examples_per_page=EXAMPLES_PER_PAGE)


def launch(demo: gr.Blocks, cfg: AppConfig, out_dir: Path, block: bool = True):
    """Queue (one request at a time, at most ``cfg.max_queue`` waiting) and serve on ``cfg.host:cfg.port``.
    Returns Gradio's ``(app, local_url, share_url)``; with ``block=True`` only once the server stops."""
    demo.queue(max_size=cfg.max_queue, default_concurrency_limit=1)
    return demo.launch(
        server_name=cfg.host, server_port=cfg.port, prevent_thread_lock=not block, share=False, inbrowser=False,
        show_error=False, ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False,
        theme=offline_theme(), allowed_paths=[str(out_dir / "meshes"), str(out_dir / "images")], quiet=False)
