"""Prompts -> an output folder of meshes, previews, ``index.html`` and ``summary.json``: what ``python -m
atom.infer`` runs (``run_inference(cfg)`` with an ``atom.config.InferConfig``).

Every input is checked before any work (prompts, prompts file, settings, output folder, checkpoint), so a
mistake costs seconds, not a half-written folder. Then all prompts are encoded in one batch and generated
``batch_size`` at a time; each mesh is cleaned up (``atom.geometry.postprocess``), colored by the color
head at its final vertices, exported, and previewed. A prompt whose mesh comes out empty is recorded as
such and the others still finish.

Layout of the output folder::

    meshes/000_a_red_cube.glb        one mesh per prompt (glb | obj | ply)
    previews/000_a_red_cube.png      turntable views as one grid
    previews/000_a_red_cube.gif      the same views as an animation
    interpolation/step_000.glb ...   with interpolate.prompts: one mesh per step
    interpolation/filmstrip.png      one view per step, left to right (captions in summary.json)
    index.html, summary.json
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor
from tqdm import tqdm

from atom.build import resolve_device
from atom.config import ExportConfig, InferConfig, PostprocessConfig, PreviewConfig, TextureMode
from atom.geometry import Mesh, export_mesh
from atom.geometry.postprocess import cube_transform, decimation_available, postprocess
from atom.geometry.uv_texture import export_textured_glb, export_textured_obj, unwrap
from atom.model import resolve_checkpoint
from atom.pipelines.index_page import write_index
from atom.pipelines.interpolation import walk
from atom.pipelines.previews import render_views, save_filmstrip, save_gif, save_grid
from atom.pipelines.text_to_mesh import TextToMeshPipeline
from atom.pipelines.texture_baking import bake_texture
from atom.prompts import PromptSet
from atom.prompts.file_names import prompt_slug
from atom.render import look_at, make_rasterizer, turntable
from atom.tables import markdown_table
from atom.text import TextEmbeddings, validate_prompts

logger = logging.getLogger(__name__)
SUMMARY_NAME = "summary.json"


class InferenceError(ValueError):
    """Bad input to an inference run, found before any work started."""


def read_prompts(prompts: list[str], prompts_file: str | None) -> list[str]:
    """``prompts`` then the lines of ``prompts_file`` (blank lines skipped); each must be non-empty."""
    prompts = list(prompts)
    if prompts_file is not None:
        try:
            prompts += PromptSet.from_file(Path(prompts_file).expanduser()).prompts
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise InferenceError(f"cannot read prompts_file={prompts_file!r}: {err}") from err
    if prompts:
        try:
            validate_prompts(prompts)
        except ValueError as err:
            raise InferenceError(f"prompts: {err}") from err
    return prompts


def output_dir(out_dir: str | None, overwrite: bool, now: datetime.datetime, root: str = "outputs/infer") -> Path:
    """The output folder: ``out_dir`` or ``<root>/<date_time>``; an existing non-empty folder is an error
    unless ``overwrite`` (then files of the same name are replaced, others left alone)."""
    path = Path(out_dir).expanduser() if out_dir else Path(root) / now.strftime("%Y-%m-%d_%H-%M-%S")
    if path.exists() and not path.is_dir():
        raise InferenceError(f"out_dir={str(path)!r} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise InferenceError(f"out_dir={str(path)!r} already exists and is not empty; choose another out_dir "
                             "or pass overwrite=true to write into it")
    return path


def run_device(device: str) -> torch.device:
    """``device`` ("auto", "cpu", "cuda:0", ...) resolved for a run, or an ``InferenceError`` naming it."""
    try:
        return resolve_device(device)
    except (ValueError, RuntimeError) as err:
        raise InferenceError(f"device={device!r}: {err}") from err


def check_settings(cfg: InferConfig) -> None:
    """Numbers and combinations Hydra's types cannot check."""
    problems = []
    if cfg.grid_resolution < 2:
        problems.append(f"grid_resolution must be >= 2, got {cfg.grid_resolution}")
    if cfg.batch_size < 1:
        problems.append(f"batch_size must be >= 1, got {cfg.batch_size}")
    if cfg.export.texture is TextureMode.uv and cfg.export.format.value != "glb":
        problems.append(f"export.texture=uv needs export.format=glb (a textured GLB), got {cfg.export.format.value}")
    problems += output_problems(cfg.export, cfg.postprocess, cfg.preview)
    if problems:
        raise InferenceError("; ".join(problems))


def output_problems(export: ExportConfig, post: PostprocessConfig, preview: PreviewConfig) -> list[str]:
    """What is wrong with the settings a :class:`MeshWriter` reads (texture, clean-up, previews)."""
    problems = []
    if export.texture_resolution < 8 or export.texture_dilation < 0:
        problems.append(f"export.texture_resolution must be >= 8 and export.texture_dilation >= 0, got "
                        f"{export.texture_resolution} and {export.texture_dilation}")
    if not 0.0 <= post.min_component_fraction < 1.0:
        problems.append(f"postprocess.min_component_fraction must be in [0, 1), got {post.min_component_fraction}")
    if post.target_faces is not None:
        if post.target_faces < 4:
            problems.append(f"postprocess.target_faces must be >= 4 or null, got {post.target_faces}")
        elif not decimation_available():
            problems.append("postprocess.target_faces needs the fast-simplification package "
                            "(pip install fast-simplification)")
    if preview.views < 1 or preview.resolution < 8 or preview.frame_ms < 1:
        problems.append(f"preview.views >= 1, preview.resolution >= 8 and preview.frame_ms >= 1 needed, got "
                        f"{preview.views}, {preview.resolution} and {preview.frame_ms}")
    return problems


ColorField = Callable[[Tensor], Tensor]
"""``points [N, 3]`` (world units) -> rgb ``[N, 3]`` in [0, 1]: a model's color head for one object."""


class MeshWriter:
    """Clean-up, color, export and preview of one generated mesh at a time, into ``out_dir``.

    Model-agnostic: each mesh comes with its color field (:data:`ColorField`), e.g.
    ``functools.partial(TextToMeshPipeline.colors, pipeline, triplane)``."""

    def __init__(self, export: ExportConfig, postprocess: PostprocessConfig, preview: PreviewConfig,
                 out_dir: Path) -> None:
        self.out_dir = out_dir
        self.export, self.post, self.preview = export, postprocess, preview
        self.rasterizer = make_rasterizer(preview.rasterizer.value)
        self.turntable = turntable(preview.views, elevation=preview.elevation, distance=preview.distance,
                                   fov=preview.fov)
        self.still = look_at(preview.elevation, preview.filmstrip_azimuth, preview.distance, preview.fov)

    def finish(self, mesh: Mesh, color_field: ColorField) -> tuple[Mesh, ColorField]:
        """Post-process the extracted mesh and color its final vertices with ``color_field``.

        Returns the mesh and its color field in the mesh's own frame: normalisation moves the mesh, not
        the field, so points are mapped back before the query."""
        post = self.post
        mesh = postprocess(mesh, largest_component=post.largest_component,
                           min_component_fraction=post.min_component_fraction, target_faces=post.target_faces)
        centre, scale = cube_transform(mesh.vertices) if post.normalize and not mesh.is_empty else (None, None)

        def color(points: Tensor) -> Tensor:
            return color_field(points if centre is None else points / scale + centre)

        if mesh.is_empty:
            return mesh, color
        vertices = mesh.vertices if centre is None else (mesh.vertices - centre) * scale
        return Mesh(vertices, mesh.faces, color(vertices)), color

    def write_mesh(self, mesh: Mesh, color: ColorField, path: Path) -> Path:
        """Export with vertex colors, or UV-textured (GLB, or OBJ + MTL + PNG) baked from the color field."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.export.texture is TextureMode.vertex:
            return export_mesh(mesh.to("cpu"), path, self.export.format.value)
        resolution = self.export.texture_resolution
        uv_mesh = unwrap(mesh, resolution=resolution)
        texture = bake_texture(uv_mesh, color, resolution, self.rasterizer, self.export.texture_dilation)
        if path.suffix.lower() == ".obj":
            return export_textured_obj(uv_mesh, texture, path)
        return export_textured_glb(uv_mesh, texture, path)

    def process(self, mesh: Mesh, color_field: ColorField, stem: str, folder: str,
                save_turntable: bool) -> tuple[dict, Tensor]:
        """Finish, export and render one mesh into ``folder/stem.<format>``; with ``save_turntable``, the
        turntable views are rendered and saved (PNG grid + GIF), else one still view is rendered (for a
        filmstrip).
        Returns the summary record and the renders ``[N, 3, H, W]`` (CPU)."""
        started = time.perf_counter()
        extracted_faces = mesh.num_faces
        mesh, color = self.finish(mesh, color_field)
        record: dict = {"status": "ok" if not mesh.is_empty else "empty", "extracted_faces": extracted_faces,
                        "faces": mesh.num_faces, "vertices": mesh.num_vertices}
        renders = torch.zeros(0, 3, self.preview.resolution, self.preview.resolution)
        if self.preview.enabled:
            cameras = self.turntable if save_turntable else self.still
            renders = render_views(mesh, cameras, self.preview.resolution, self.rasterizer).cpu()
        if mesh.is_empty:
            return record, renders
        path = self.write_mesh(mesh, color, self.out_dir / folder / f"{stem}.{self.export.format.value}")
        record["mesh"] = self._relative(path)
        if save_turntable and self.preview.enabled:
            previews = self.out_dir / "previews"
            previews.mkdir(exist_ok=True)
            record["preview"] = self._relative(save_grid(renders, previews / f"{stem}.png"))
            record["turntable"] = self._relative(save_gif(renders, previews / f"{stem}.gif", self.preview.frame_ms))
        record["seconds"] = round(time.perf_counter() - started, 3)
        return record, renders

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.out_dir).as_posix()


def run_inference(cfg: InferConfig) -> dict:
    """Check every input, then generate, export and preview every prompt (and the interpolation walk, if
    ``interpolate.prompts`` is set) into the output folder. Returns the summary (also ``summary.json``).

    Raises:
        InferenceError: no prompts, an empty prompt, an unreadable prompts file, bad settings, or an
            existing non-empty output folder without ``overwrite``.
        CheckpointError: a missing or corrupt checkpoint, or one whose config does not match this code.
    """
    started, now = time.perf_counter(), datetime.datetime.now()
    timing: dict[str, float] = {}
    prompts = read_prompts(list(cfg.prompts), cfg.prompts_file)
    walk_prompts = list(cfg.interpolate.prompts)
    if not prompts and not walk_prompts:
        raise InferenceError("no prompts given: pass prompts=[...], prompts_file=... or interpolate.prompts=[...]")
    points = []
    if walk_prompts:
        try:
            walk_prompts = validate_prompts(walk_prompts)
            points = walk(walk_prompts, cfg.interpolate.steps)
        except ValueError as err:
            raise InferenceError(f"interpolate: {err}") from err
    check_settings(cfg)
    device = run_device(cfg.device)
    out_dir = output_dir(cfg.out_dir, cfg.overwrite, now)
    with timer(timing, "load_s"):
        checkpoint = resolve_checkpoint(cfg.ckpt)
        kind = cfg.geometry.kind.value if cfg.geometry.kind is not None else None  # None: the checkpoint's
        try:
            pipeline = TextToMeshPipeline.from_pretrained(checkpoint, device=device, extractor=kind,
                                                          backend=cfg.geometry.backend.value)
        except ImportError as err:  # geometry.backend=kaolin without kaolin
            raise InferenceError(f"geometry.backend={cfg.geometry.backend.value}: {err}") from err

    out_dir.mkdir(parents=True, exist_ok=True)
    writer = MeshWriter(cfg.export, cfg.postprocess, cfg.preview, out_dir)
    records: list[dict] = []
    interpolation = None
    with tqdm(total=len(prompts) + len(points), desc="infer", unit="mesh", disable=not cfg.progress,
              dynamic_ncols=True) as bar:
        if prompts:
            with timer(timing, "encode_s"):
                text = pipeline.encode(prompts)
            stems = [prompt_slug(prompt, i) for i, prompt in enumerate(prompts)]
            results = _generate(pipeline, writer, text, cfg, stems, "meshes", True, timing, bar)
            records = [{"index": i, "prompt": prompt, **record} for i, (prompt, (record, _)) in
                       enumerate(zip(prompts, results, strict=True))]
        if points:
            with timer(timing, "encode_s"):
                text = pipeline.walk_embeddings(walk_prompts, points, cfg.interpolate.mode.value)
            stems = [f"step_{k:03d}" for k in range(len(points))]
            results = list(_generate(pipeline, writer, text, cfg, stems, "interpolation", False, timing, bar))
            frames = [{"column": k, "label": p.label, "source": walk_prompts[p.source],
                       "target": walk_prompts[p.target], "weight": p.weight, **record}
                      for k, (p, (record, _)) in enumerate(zip(points, results, strict=True))]
            interpolation = {"prompts": walk_prompts, "steps": cfg.interpolate.steps,
                             "mode": cfg.interpolate.mode.value, "frames": frames}
            if cfg.preview.enabled:
                (out_dir / "interpolation").mkdir(exist_ok=True)
                strip = save_filmstrip(torch.cat([renders for _, renders in results]),
                                       out_dir / "interpolation" / "filmstrip.png")
                interpolation["filmstrip"] = strip.relative_to(out_dir).as_posix()
    empty = [r["prompt"] for r in records if r["status"] != "ok"]
    if empty:
        logger.warning("%d prompt(s) gave an empty mesh: %s", len(empty), empty)
    timing["total_s"] = time.perf_counter() - started
    summary = {
        "checkpoint": str(checkpoint), "created": now.isoformat(timespec="seconds"), "out_dir": str(out_dir),
        "device": str(pipeline.device), "grid_resolution": cfg.grid_resolution,
        "geometry": {"kind": pipeline.extractor, "backend": pipeline.backend},
        "export": OmegaConf.to_container(OmegaConf.structured(cfg.export), enum_to_str=True),
        "postprocess": OmegaConf.to_container(OmegaConf.structured(cfg.postprocess), enum_to_str=True),
        "prompts": records, "empty": empty, "interpolation": interpolation,
        "timing": {key: round(value, 3) for key, value in timing.items()},
    }
    (out_dir / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_index(out_dir, summary)
    return summary


@contextlib.contextmanager
def timer(timing: dict[str, float], key: str) -> Iterator[None]:
    """Add the duration of the ``with`` block to ``timing[key]`` (seconds)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timing[key] = timing.get(key, 0.0) + time.perf_counter() - started


def _generate(pipeline: TextToMeshPipeline, writer: MeshWriter, text: TextEmbeddings, cfg: InferConfig,
              stems: list[str], folder: str, save_turntable: bool, timing: dict[str, float],
              bar: tqdm) -> Iterator[tuple[dict, Tensor]]:
    """Generate ``text`` ``batch_size`` rows at a time; yields each mesh's record and renders in order."""
    for start in range(0, len(text), cfg.batch_size):
        with timer(timing, "generate_s"):
            triplanes = pipeline.triplanes(text[start : start + cfg.batch_size])
            meshes = pipeline.meshes(triplanes, cfg.grid_resolution, color=False)
        for offset, mesh in enumerate(meshes):
            with timer(timing, "write_s"):  # post-processing, colors, export and previews
                color_field = functools.partial(pipeline.colors, triplanes[offset])
                result = writer.process(mesh, color_field, stems[start + offset], folder, save_turntable)
            bar.update(1)
            yield result


def summary_table(summary: dict) -> str:
    """A table of the run: one row per prompt (and per interpolation step), then the totals."""
    rows = [(r["index"], r["prompt"], r["status"], r["faces"], r.get("mesh", "-")) for r in summary["prompts"]]
    for f in (summary["interpolation"] or {"frames": []})["frames"]:
        rows.append((f"i{f['column']}", f["label"], f["status"], f["faces"], f.get("mesh", "-")))
    times = ", ".join(f"{key.removesuffix('_s')} {value:.2f} s" for key, value in summary["timing"].items())
    totals = f"{len(summary['prompts'])} prompt(s), {len(summary['empty'])} empty; {times}"
    return markdown_table(("#", "prompt", "status", "faces", "file"), rows) + f"\n\n{totals}"
