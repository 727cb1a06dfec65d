"""What the app does with a checkpoint, without any Gradio: prompts -> finished mesh files, and prompt walks.

This module is the app's one seam to the text-to-mesh stack: ``load_text_to_mesh`` is the only place that
names the user-facing text-to-mesh class, and the imports below are the only ones from the inference room
(clean-up, coloring and UV baking are ``MeshWriter``'s, as in ``python -m atom.infer``).

Each request writes into a folder of its own under ``<out_dir>/meshes/``::

    0003_a_red_cube/mesh.glb        vertex colors (shown in the viewer)
    0003_a_red_cube/mesh.obj        vertex colors as ``v x y z r g b``
    0003_a_red_cube/mesh_uv.glb     xatlas charts + a texture baked from the color head (when asked)
    0004_walk/step_000.glb ...      one GLB per point of an interpolation walk

A mesh is extracted uncolored, cleaned up (``atom.geometry.postprocess``), then colored by the color
head at its final vertices, so decimation and normalisation keep correct colors.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from atom.build import build_prompt_set
from atom.config import (
    ExportConfig,
    MeshFormat,
    PostprocessConfig,
    PreviewConfig,
    TextureMode,
    TrainConfig,
)
from atom.geometry import Mesh, export_mesh
from atom.model import resolve_checkpoint
from atom.pipelines import TextToMeshPipeline, walk
from atom.pipelines.inference import ColorField, MeshWriter
from atom.prompts import PromptSet
from atom.prompts.file_names import prompt_slug
from atom.text import TextEmbeddings, validate_prompts

logger = logging.getLogger(__name__)
MIN_GRID_RESOLUTION = 8


def load_text_to_mesh(checkpoint: Path, device: str) -> TextToMeshPipeline:
    """The text-to-mesh pipeline of a resolved checkpoint directory (raises ``CheckpointError``)."""
    return TextToMeshPipeline.from_pretrained(checkpoint, device=device)


def example_prompts(checkpoint: Path) -> PromptSet | None:
    """The run's prompt set with its train/test split, from the checkpoint's ``train_config.yaml``; ``None``
    (logged) when the file is absent or names prompts this machine cannot rebuild (e.g. a missing file)."""
    config_file = checkpoint / "train_config.yaml"
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.load(config_file))
        return build_prompt_set(OmegaConf.to_object(cfg).prompts)
    except Exception as err:  # a config from other code, a prompts file that is not on this machine
        logger.warning("no example prompts: cannot rebuild the prompt set of %s: %s", config_file, err)
        return None


@dataclass(frozen=True)
class MeshOptions:
    """Per-request settings: the tetrahedral grid (cells per axis) and the clean-up chain."""

    grid_resolution: int = 64
    largest_component: bool = False
    min_component_fraction: float = 0.01
    target_faces: int | None = None  # quadric decimation; None keeps every face
    normalize: bool = False
    uv_texture: bool = False  # also write the UV-textured GLB (xatlas: seconds per 10k faces)


@dataclass(frozen=True)
class MeshFiles:
    """One finished mesh: its files (``None`` when not written) and its size."""

    label: str
    glb: Path | None
    obj: Path | None
    uv_glb: Path | None
    faces: int
    vertices: int

    @property
    def is_empty(self) -> bool:
        return self.glb is None


@dataclass(frozen=True)
class Generation:
    """The meshes of one request, in order, with the seconds spent in the network (text encoding, triplanes
    and mesh extraction) and in finishing (clean-up, colors, export)."""

    meshes: list[MeshFiles]
    network_s: float
    finish_s: float


class TextToMeshService:
    """A loaded text-to-mesh model and the folder it writes to; one request at a time (the app's queue)."""

    def __init__(self, pipeline: TextToMeshPipeline, checkpoint: Path, out_dir: Path, texture_resolution: int = 512,
                 max_grid_resolution: int = 128, max_interpolation_meshes: int = 33) -> None:
        self.pipeline, self.checkpoint, self.out_dir = pipeline, checkpoint, Path(out_dir)
        self.texture_resolution = texture_resolution
        self.max_grid_resolution = max_grid_resolution
        self.max_interpolation_meshes = max_interpolation_meshes
        self._counter = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str, out_dir: Path, **kwargs) -> TextToMeshService:
        """Open a checkpoint or run directory (raises ``CheckpointError`` naming what is wrong)."""
        checkpoint = resolve_checkpoint(path)
        return cls(load_text_to_mesh(checkpoint, device), checkpoint, out_dir, **kwargs)

    @property
    def description(self) -> str:
        text = self.pipeline.text_encoder.identity if self.pipeline.text_encoder is not None else "no text encoder"
        return f"{self.checkpoint} · text encoder {text} · {self.pipeline.device}"

    def generate(self, prompt: str, options: MeshOptions) -> Generation:
        """One prompt -> GLB, OBJ and (with ``options.uv_texture``) a UV-textured GLB.

        Raises ``ValueError`` naming the problem for an empty prompt or bad options."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"the prompt is empty ({prompt!r}): type what to make, e.g. 'a red cube'")
        prompt = prompt.strip()
        self._check(options)
        return self._run(self.pipeline.encode([prompt]), [prompt], options, self._folder(prompt),
                         stems=["mesh"], obj_and_uv=True)

    def interpolate(self, prompts: list[str], steps: int, mode: str, options: MeshOptions) -> Generation:
        """Meshes along a walk through the text embeddings of ``prompts`` (``steps`` per consecutive pair,
        shared ends once), all generated in one batched forward pass; GLB files only."""
        prompts = [p.strip() for p in validate_prompts(prompts)]
        points = walk(prompts, steps)
        if len(points) > self.max_interpolation_meshes:
            raise ValueError(f"{len(prompts)} prompts x {steps} steps make {len(points)} meshes; at most "
                             f"{self.max_interpolation_meshes} are generated in one pass (fewer prompts or steps)")
        self._check(options)
        text = self.pipeline.walk_embeddings(prompts, points, mode)  # checks ``mode``
        stems = [f"step_{k:03d}" for k in range(len(points))]
        return self._run(text, [p.label for p in points], options, self._folder("walk"), stems, obj_and_uv=False)

    def _check(self, options: MeshOptions) -> None:
        if not MIN_GRID_RESOLUTION <= options.grid_resolution <= self.max_grid_resolution:
            raise ValueError(f"grid resolution must be in [{MIN_GRID_RESOLUTION}, {self.max_grid_resolution}], "
                             f"got {options.grid_resolution}")
        if not 0.0 <= options.min_component_fraction < 1.0:
            raise ValueError(f"minimum component fraction must be in [0, 1), got {options.min_component_fraction}")
        if options.target_faces is not None and options.target_faces < 4:
            raise ValueError(f"target faces must be >= 4 (or empty for no decimation), got {options.target_faces}")

    def _folder(self, name: str) -> Path:
        with self._lock:
            index = next(self._counter)
        folder = self.out_dir / "meshes" / prompt_slug(name, index)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _run(self, text: TextEmbeddings, labels: list[str], options: MeshOptions, folder: Path,
             stems: list[str], obj_and_uv: bool) -> Generation:
        started = time.perf_counter()
        triplanes = self.pipeline.triplanes(text)
        meshes = self.pipeline.meshes(triplanes, options.grid_resolution, color=False)
        network_s = time.perf_counter() - started
        writer = mesh_writer(options, folder, self.texture_resolution)
        finished = [finish_mesh(writer, mesh, functools.partial(self.pipeline.colors, triplane), label, folder / stem,
                                obj=obj_and_uv, uv=obj_and_uv and options.uv_texture)
                    for triplane, mesh, label, stem in zip(triplanes, meshes, labels, stems, strict=True)]
        finish_s = time.perf_counter() - started - network_s
        logger.info("%d mesh(es) into %s: network %.2f s, finishing %.2f s", len(finished), folder, network_s,
                    finish_s)
        return Generation(finished, network_s, finish_s)


def mesh_writer(options: MeshOptions, folder: Path, texture_resolution: int) -> MeshWriter:
    """A ``MeshWriter`` into ``folder`` with the request's clean-up chain, UV textures of ``texture_resolution``
    pixels, and no previews (the page has its viewer)."""
    export = ExportConfig(format=MeshFormat.glb, texture=TextureMode.uv, texture_resolution=texture_resolution)
    postprocess = PostprocessConfig(largest_component=options.largest_component,
                                    min_component_fraction=options.min_component_fraction,
                                    target_faces=options.target_faces, normalize=options.normalize)
    return MeshWriter(export, postprocess, PreviewConfig(enabled=False), folder)


def finish_mesh(writer: MeshWriter, mesh: Mesh, color_field: ColorField, label: str, stem: Path, obj: bool,
                uv: bool) -> MeshFiles:
    """Clean up and color one extracted mesh with its model's ``color_field``, then write ``stem``.glb (vertex
    colors; + .obj, + _uv.glb with a texture baked from the color field)."""
    mesh, color = writer.finish(mesh, color_field)
    if mesh.is_empty:
        return MeshFiles(label, None, None, None, 0, 0)
    cpu = mesh.to("cpu")
    glb = export_mesh(cpu, stem.with_suffix(".glb"))
    obj_path = export_mesh(cpu, stem.with_suffix(".obj")) if obj else None
    uv_glb = writer.write_mesh(mesh, color, stem.with_name(stem.name + "_uv.glb")) if uv else None
    return MeshFiles(label, glb, obj_path, uv_glb, mesh.num_faces, mesh.num_vertices)
