"""Ground-truth renders of Toy64 with view-dependent captions: the toy diffusion prior's training data.

The distribution matches what the trainer shows its guidance model, so that score distillation sees
in-distribution images: orbit cameras from `sample_cameras` (elevation -10..45 deg, azimuth -180..180,
distance 2.5..3.0, fov 40..45), shading drawn per image from albedo / lambertian / textureless with
``shading_probs`` (the trainer's default 0.2 / 0.6 / 0.2 here; the bundled prior was trained with
0.3 / 0.7 / 0, see `atom.toyworld.train_prior`), ambient 0.3, a light near the camera
(`random_light_directions`), white background. Captions name each camera's view with a view scheme
(`atom.prompts.views.ViewScheme`; the trainer names its cameras with the same function). Like the
trainer's stage 2, meshes are rasterized at a higher resolution (``supersample`` x) and resized with the
guidance model's own antialiased resize.

Geometry does not depend on color, so each shape is rasterized once per camera and its buffers are
shaded in all eight colors (each with its own shading mode and light): eight times fewer rasterizations
than rendering the 64 objects separately.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm.auto import tqdm

from atom.guidance.pixel_sds import resize_images
from atom.prompts.views import get_view_scheme, view_prompt
from atom.render import (
    SHADING_MODES,
    Cameras,
    ViewShading,
    make_rasterizer,
    random_light_directions,
    render_mesh,
    shade_views,
)
from atom.render import sample_cameras as sample_orbit_cameras
from atom.render.shading import DEFAULT_AMBIENT, WHITE
from atom.toyworld.shapes import COLORS, SHAPES, toy64

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("~/.cache/atom/toy_renders")
CACHE_FORMAT = 2  # bump when the rendering code changes what a given set of settings produces
IMAGES_FILE = "renders.safetensors"
CAPTIONS_FILE = "captions.json"


class ToyRenders(NamedTuple):
    """A rendered data set; unpacks as ``images, captions, object_ids, azimuth, elevation``.

    images: [N, 3, H, W] float32 in [0, 1]. captions: N view-dependent prompts ("a red cube, side view").
    object_ids: [N] int64 index into `toy64`. azimuth, elevation: [N] float32 degrees, each image's camera
    (`atom.render.cameras` convention), what a camera-conditioned prior is conditioned on.
    """

    images: Tensor
    captions: list[str]
    object_ids: Tensor
    azimuth: Tensor
    elevation: Tensor


class GeometryBuffers(NamedTuple):
    """A shape seen from B cameras at the supersampled resolution h = w.

    coverage: [B, 1, h, w] antialiased coverage in [0, 1]. normal: [B, 3, h, w] unit world normals.
    """

    coverage: Tensor
    normal: Tensor


def render_geometry(shape_index: int, cameras: Cameras, resolution: int, mesh_resolution: int = 48,
                    chunk_size: int = 32) -> GeometryBuffers:
    """Rasterize the ground-truth mesh of ``SHAPES[shape_index]`` from ``cameras`` at ``resolution`` px.

    The mesh comes from `ToyObject.ground_truth_mesh(mesh_resolution)`; cameras go through the rasterizer
    ``chunk_size`` at a time to bound memory.
    """
    if not 0 <= shape_index < len(SHAPES):
        raise ValueError(f"shape_index must be in [0, {len(SHAPES)}), got {shape_index}")
    mesh = toy64()[shape_index * len(COLORS)].ground_truth_mesh(mesh_resolution)
    rasterizer = make_rasterizer("torch")
    coverage, normal = [], []
    for start in range(0, len(cameras), chunk_size):
        chunk = cameras[start:start + chunk_size]
        out = render_mesh(mesh.vertices, mesh.faces, chunk, resolution, rasterizer)
        coverage.append(out.mask)
        normal.append(out.normal)
    return GeometryBuffers(torch.cat(coverage), torch.cat(normal))


def shade_geometry(buffers: GeometryBuffers, albedo: Sequence[float] | Tensor, light_directions: Tensor,
                   modes: Sequence[str], resolution: int, ambient: float = DEFAULT_AMBIENT,
                   background: Sequence[float] = WHITE) -> Tensor:
    """Shade a uniformly colored shape and composite it over ``background`` with the view shader that the
    trainer uses (``atom.render.view_shader``), then resize.

    Args:
        buffers: B views of a shape (`render_geometry`).
        albedo: [3] or [B, 3] color in [0, 1].
        light_directions: [B, 3] towards the light, world space.
        modes: B shading modes, each one of `atom.render.SHADING_MODES`.
        resolution: output side length (antialiased resize, as `PixelSDS` resizes renders).

    Returns:
        [B, 3, resolution, resolution] float32 in [0, 1].
    """
    batch = buffers.coverage.shape[0]
    if len(modes) != batch:
        raise ValueError(f"modes must name one shading mode per view ({batch}), got {len(modes)}")
    albedo = torch.as_tensor(albedo, dtype=torch.float32).reshape(-1, 3).expand(batch, 3)
    albedo = albedo[:, :, None, None].expand_as(buffers.normal)
    shading = ViewShading(list(modes), light_directions, torch.tensor(background, dtype=torch.float32), ambient)
    images = shade_views(albedo, buffers.normal, buffers.coverage, shading)
    return resize_images(images, resolution).clamp(0.0, 1.0)


def render_dataset(resolution: int = 32, views_per_object: int = 256, seed: int = 0, supersample: int = 2,
                   mesh_resolution: int = 48, object_ids: Sequence[int] | None = None,
                   elevation_range: tuple[float, float] = (-10.0, 45.0),
                   azimuth_range: tuple[float, float] = (-180.0, 180.0),
                   distance_range: tuple[float, float] = (2.5, 3.0),
                   fov_range: tuple[float, float] = (40.0, 45.0),
                   shading_probs: tuple[float, float, float] = (0.2, 0.6, 0.2), ambient: float = DEFAULT_AMBIENT,
                   view_scheme: str = "dreamfusion4",
                   cache_dir: str | Path | None = DEFAULT_CACHE_DIR, progress: bool = True) -> ToyRenders:
    """Render Toy64 objects from random cameras, each image captioned ``"a {color} {shape}, {view} view"``
    (``view`` from ``view_scheme``).

    Args:
        resolution: output side length in pixels.
        views_per_object: cameras per object. All colors of a shape share the shape's cameras (each
            image still draws its own shading mode and light).
        seed: seeds cameras, shading modes and lights; the same settings give the same images.
        supersample: rasterize at ``supersample * resolution`` px, then resize (antialiasing).
        mesh_resolution: marching-tetrahedra grid of the ground-truth meshes.
        object_ids: indices into `toy64` to render (default all 64), in any order; kept in that order.
        elevation_range, azimuth_range, distance_range, fov_range: camera ranges (degrees, world units).
        shading_probs: probabilities of `atom.render.SHADING_MODES` (albedo, lambertian, textureless).
        ambient: ambient fraction of the lambertian and textureless shading.
        view_scheme: names the caption's view (a key of `atom.prompts.views.VIEW_SCHEMES`).
        cache_dir: where finished data sets are kept (a sub-folder per settings hash); None: no cache.
        progress: show a tqdm bar while rendering.

    Returns:
        `ToyRenders` with N = len(object_ids) * views_per_object images, object-major.
    """
    count = len(SHAPES) * len(COLORS)
    object_ids = list(range(count)) if object_ids is None else [int(i) for i in object_ids]
    _check_settings(resolution, views_per_object, supersample, object_ids, shading_probs)
    scheme = get_view_scheme(view_scheme)
    settings = {
        "format": CACHE_FORMAT, "resolution": resolution, "views_per_object": views_per_object, "seed": seed,
        "supersample": supersample, "mesh_resolution": mesh_resolution, "object_ids": object_ids,
        "elevation_range": list(elevation_range), "azimuth_range": list(azimuth_range),
        "distance_range": list(distance_range), "fov_range": list(fov_range),
        "shading_probs": list(shading_probs), "ambient": ambient, "view_scheme": scheme.name,
    }
    folder = None
    if cache_dir is not None:
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        folder = Path(cache_dir).expanduser() / key
        if (folder / IMAGES_FILE).is_file() and (folder / CAPTIONS_FILE).is_file():
            logger.info("toy renders: loaded from cache %s", folder)
            return _load(folder)

    generator = torch.Generator().manual_seed(seed)
    objects = toy64()
    shapes = sorted({index // len(COLORS) for index in object_ids})
    per_object: dict[int, tuple[Tensor, list[str], Cameras]] = {}
    bar = tqdm(total=len(object_ids), desc="rendering toy64", unit="object", disable=not progress)
    for shape_index in shapes:
        # Cameras and lights are drawn for every shape in a fixed order, so a subset of objects gets the
        # same images as the full set would have.
        cameras = sample_orbit_cameras(views_per_object, elevation_range, azimuth_range, distance_range,
                                       fov_range, generator=generator)
        buffers = None
        views = scheme.view_labels(cameras.azimuth, cameras.elevation)
        for color_index, color in enumerate(COLORS):
            modes = [SHADING_MODES[i] for i in torch.multinomial(
                torch.tensor(shading_probs), views_per_object, replacement=True, generator=generator)]
            lights = random_light_directions(cameras, generator=generator)
            index = shape_index * len(COLORS) + color_index
            if index not in object_ids:
                continue
            if buffers is None:
                buffers = render_geometry(shape_index, cameras, supersample * resolution, mesh_resolution)
            images = shade_geometry(buffers, color.rgb, lights, modes, resolution, ambient)
            per_object[index] = images, [view_prompt(objects[index].prompt, view) for view in views], cameras
            bar.update(1)
    bar.close()

    # Quantised to the 8 bits the cache stores, so a cached and a fresh data set are identical.
    images = torch.cat([per_object[index][0] for index in object_ids])
    renders = ToyRenders(
        images=(images * 255.0).round() / 255.0,
        captions=[caption for index in object_ids for caption in per_object[index][1]],
        object_ids=torch.tensor(object_ids, dtype=torch.long).repeat_interleave(views_per_object),
        azimuth=torch.cat([per_object[index][2].azimuth for index in object_ids]).float(),
        elevation=torch.cat([per_object[index][2].elevation for index in object_ids]).float(),
    )
    if folder is not None:
        _save(folder, renders, settings)
        logger.info("toy renders: %d images cached in %s", len(renders.captions), folder)
    return renders


def _check_settings(resolution: int, views_per_object: int, supersample: int, object_ids: list[int],
                    shading_probs: tuple[float, float, float]) -> None:
    for name, value in (("resolution", resolution), ("views_per_object", views_per_object),
                        ("supersample", supersample)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    count = len(SHAPES) * len(COLORS)
    distinct = len(set(object_ids)) == len(object_ids)
    if not object_ids or not distinct or not all(0 <= i < count for i in object_ids):
        raise ValueError(f"object_ids must be distinct indices in [0, {count}), got {object_ids}")
    if len(shading_probs) != len(SHADING_MODES) or min(shading_probs) < 0 or sum(shading_probs) <= 0:
        raise ValueError(f"shading_probs must be {len(SHADING_MODES)} non-negative weights for "
                         f"{SHADING_MODES}, got {shading_probs}")


def _save(folder: Path, renders: ToyRenders, settings: dict) -> None:
    """uint8 HWC images, object ids and cameras in safetensors, captions and settings in JSON (written last)."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = (renders.images * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    save_file({"images": pixels, "object_ids": renders.object_ids, "azimuth": renders.azimuth,
               "elevation": renders.elevation}, folder / IMAGES_FILE)
    index = {"settings": settings, "captions": renders.captions}
    (folder / CAPTIONS_FILE).write_text(json.dumps(index, indent=1), encoding="utf-8")


def _load(folder: Path) -> ToyRenders:
    tensors = load_file(folder / IMAGES_FILE)
    captions = json.loads((folder / CAPTIONS_FILE).read_text(encoding="utf-8"))["captions"]
    images = tensors["images"].permute(0, 3, 1, 2).float() / 255.0
    return ToyRenders(images.contiguous(), captions, tensors["object_ids"], tensors["azimuth"], tensors["elevation"])
