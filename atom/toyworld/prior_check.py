"""Does the toy prior draw what its prompt says? An independent check against ground-truth renders.

For each of the 64 Toy64 prompts (with a view suffix, "a red cube, front view") the prior draws one
image with DDIM (deterministic by default) and classifier-free guidance, at s = 1.1 by default: the
bundled prior draws its crispest shapes with mild guidance, and larger scales blur them (measured in
bench/RESULTS.md). Two nearest-reference classifiers that know nothing of the prior
then read the image:

- color: the mean color of the foreground (pixels far from the white background), as a unit RGB
  vector so that lambertian shading (a scale of the albedo) does not move it, nearest (cosine) to the
  same statistic of lambertian ground-truth renders of each of the 8 colors;
- shape: the foreground silhouette, compared by IoU with ground-truth silhouettes of each of the 8
  shapes over a grid of cameras covering the view (elevation, azimuth, distance); the shape whose best
  reference overlaps most wins.

Both classify ground-truth renders correctly (tested), so a miss is the prior's. A textureless (grey)
sample has no color to read and counts as a color miss.

Yaw (for a camera-conditioned prior, or one whose view scheme has sectors narrower than 90 degrees, e.g.
``sectors8``): does the camera (or the view caption) fix the object's yaw? A cube seen from azimuth 0, 90,
180 or 270 is face-on, from 45, 135, ... corner-on. The prior draws each of the 8 cubes at each of these 8
azimuths (`YAW_PROBES`: the caption names the probe's view in the prior's own scheme, and a camera-conditioned
prior also gets the probe camera's features at elevation `CHECK_ELEVATION`); a third nearest-reference
classifier reads face-on or corner-on from the silhouette (best IoU with cube references at yaw -15..15
against 30..60 degrees, the check's elevations and distances), and the yaw accuracy is the share read as
the probe's azimuth says (chance 0.5; a prior that ignores the view scores about that). The same classifier
on ground-truth cube renders from random cameras of the training distribution gives the attainable value.

A camera-conditioned prior (`atom.guidance.camera_conditioning`) samples the color and shape check at the
camera in the middle of the checked view (`view_camera`).

    python -m atom.toyworld.prior_check [path=DIR] [guidance_scale=1.1] [num_inference_steps=50] [eta=0]
        [seed=0] [view=front|front-right|...|side|back|overhead] [record=true]

(Hydra, config ``atom/conf/prior/prior_check.yaml`` merged into `PriorCheckCommandConfig`.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import hydra
import torch
import torch.nn.functional as F
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from atom.config import CONF_DIR, asset_path
from atom.guidance.camera_conditioning import camera_feature_dim, camera_features
from atom.prompts.views import DREAMFUSION4, SECTORS8, VIEWS, ViewScheme, read_view_scheme, view_prompt
from atom.render import Cameras, look_at, sample_cameras
from atom.render.images import image_grid
from atom.text import MiniLMTextEncoder
from atom.toyworld.prior import (
    CARD_FILE,
    SAMPLE_ETA,
    SAMPLE_GUIDANCE_SCALE,
    SAMPLES_FILE,
    load_prior,
    sample_prior,
)
from atom.toyworld.renders import render_geometry, shade_geometry
from atom.toyworld.shapes import COLORS, SHAPES, toy64

logger = logging.getLogger(__name__)

CHECK_HEADING = "## Check"

FOREGROUND_THRESHOLD = 0.2
"""A pixel is foreground when its darkest channel is this far below white (1 - min(r, g, b) > 0.2)."""

# Cameras of each view, dense enough that every ground-truth render has a reference of its own shape
# close in silhouette: the elevations the trainer uses (-10..45), azimuths every 7.5 degrees inside the
# view's sectors (edges included) in the prior's view scheme (`atom.prompts.views.ViewScheme`), and distances
# every ~4 % of apparent size, spanning distance 2.5..3.0 seen with fov 40..45 (references use fov 42.5):
# sizes matter (capsule and torus, sphere and cylinder differ in little else at 32 px).
REFERENCE_ELEVATIONS = (-10.0, 1.0, 12.0, 23.0, 34.0, 45.0)
REFERENCE_AZIMUTH_STEP = 7.5
OVERHEAD_ANGLES = ((65.0, 75.0, 85.0), tuple(15.0 * i for i in range(24)))
YAW_SHAPE = "cube"
FACE_ON_AZIMUTHS = (-15.0, -7.5, 0.0, 7.5, 15.0)  # the cube's yaw relative to the camera, degrees
CORNER_ON_AZIMUTHS = (30.0, 37.5, 45.0, 52.5, 60.0)
YAW_ACCURACY_GOAL = 0.75
"""The yaw accuracy a yaw-anchored prior must reach (chance 0.5)."""
YAW_SAMPLES_FILE = "yaw_samples.png"
YAW_PROBES = tuple(zip(SECTORS8.azimuth_labels, (45.0 * i for i in range(8)), strict=True))
"""(name, azimuth in degrees) of the yaw check's cameras: the centres of the eight 45-degree sectors."""
CHECK_ELEVATION = 15.0
"""Elevation (degrees) of a camera-conditioned prior's check cameras, inside the training range -10..45."""
OVERHEAD_ELEVATION = 75.0
REFERENCE_DISTANCES = (2.34, 2.45, 2.55, 2.66, 2.77, 2.87, 2.98, 3.08, 3.19)
REFERENCE_FOV = 42.5

#: the view suffix of the check's prompts, as a config choice (members: `atom.prompts.views.VIEWS`)
PriorView = Enum("PriorView", [(view, view) for view in VIEWS])


@dataclass
class PriorCheckConfig:
    """How the prior samples in the check (`check_prior`); also the check after `train_prior`."""

    guidance_scale: float = SAMPLE_GUIDANCE_SCALE
    num_inference_steps: int = 50  # DDIM steps
    eta: float = SAMPLE_ETA  # DDIM noise (0: deterministic)
    view: PriorView = PriorView.front


@dataclass
class PriorCheckCommandConfig(PriorCheckConfig):
    """``python -m atom.toyworld.prior_check``: which prior (None: the bundled one), the seed, and whether to
    write the result into the prior's model card and samples.png."""

    path: str | None = None
    seed: int = 0
    record: bool = False


ConfigStore.instance().store(name="prior_check_schema", node=PriorCheckCommandConfig)


@dataclass
class References:
    """What the classifiers compare with.

    colors: [8, 3] unit mean foreground RGB of each color (`COLORS` order).
    silhouettes: [8, K, H, W] bool foreground of each shape (`SHAPES` order) from K cameras.
    """

    colors: Tensor
    silhouettes: Tensor


def prior_view_scheme(path: str | Path) -> ViewScheme:
    """The view scheme a prior folder was trained with; a folder without ``view_scheme.json`` predates them and
    was trained with DreamFusion's four views (logged)."""
    scheme = read_view_scheme(path)
    if scheme is None:
        logger.info("%s has no view_scheme.json: assuming view scheme %r", path, DREAMFUSION4.name)
        return DREAMFUSION4
    return scheme


def reference_cameras(view: str = "front", elevations: Sequence[float] | None = None,
                      azimuths: Sequence[float] | None = None,
                      distances: Sequence[float] = REFERENCE_DISTANCES,
                      scheme: ViewScheme = DREAMFUSION4) -> Cameras:
    """The grid (elevation x azimuth x distance) of reference cameras of a view of ``scheme``, fov
    `REFERENCE_FOV`."""
    if view not in scheme.labels:
        raise ValueError(f"view must be one of {scheme.labels} (view scheme {scheme.name!r}), got {view!r}")
    if view == "overhead":
        default_elevations, default_azimuths = OVERHEAD_ANGLES
    else:
        default_elevations = REFERENCE_ELEVATIONS
        default_azimuths = tuple(scheme.sector_azimuths(view, REFERENCE_AZIMUTH_STEP))
    axes = [torch.tensor(values, dtype=torch.float32)
            for values in (elevations or default_elevations, azimuths or default_azimuths, distances)]
    grid = torch.cartesian_prod(*axes)
    return look_at(grid[:, 0], grid[:, 1], grid[:, 2], REFERENCE_FOV)


def build_references(resolution: int = 32, view: str = "front", supersample: int = 2,
                     mesh_resolution: int = 48, elevations: Sequence[float] | None = None,
                     azimuths: Sequence[float] | None = None,
                     distances: Sequence[float] = REFERENCE_DISTANCES, ambient: float = 0.3,
                     scheme: ViewScheme = DREAMFUSION4) -> References:
    """Ground-truth references rendered as the prior's training data is (`atom.toyworld.renders`).

    Silhouettes use albedo shading in dark grey, whose foreground edge matches that of the saturated
    colors; color references use lambertian shading lit from the camera, over all shapes and cameras.
    """
    cameras = reference_cameras(view, elevations, azimuths, distances, scheme)
    lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
    lambertian = ["lambertian"] * len(cameras)
    silhouettes, color_sums = [], torch.zeros(len(COLORS), 3)
    for shape_index in range(len(SHAPES)):
        buffers = render_geometry(shape_index, cameras, supersample * resolution, mesh_resolution)
        dark = shade_geometry(buffers, (0.2, 0.2, 0.2), lights, ["albedo"] * len(cameras), resolution)
        silhouettes.append(foreground_mask(dark))
        for color_index, color in enumerate(COLORS):
            images = shade_geometry(buffers, color.rgb, lights, lambertian, resolution, ambient)
            color_sums[color_index] += mean_foreground_color(images).mean(dim=0)
    return References(F.normalize(color_sums, dim=-1), torch.stack(silhouettes))


def foreground_mask(images: Tensor, threshold: float = FOREGROUND_THRESHOLD) -> Tensor:
    """[B, 3, H, W] in [0, 1] -> [B, H, W] bool: pixels whose darkest channel is far from white."""
    return (1.0 - images.amin(dim=1)) > threshold


def mean_foreground_color(images: Tensor) -> Tensor:
    """[B, 3, H, W] -> [B, 3] unit mean RGB of the foreground; zeros where there is no foreground."""
    mask = foreground_mask(images).unsqueeze(1).to(images.dtype)
    mean = (images * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3)).clamp_min(1.0)
    return F.normalize(mean, dim=-1)


def classify_color(images: Tensor, references: References) -> Tensor:
    """[B, 3, H, W] -> [B] index into `COLORS` (-1 when the image has no foreground)."""
    features = mean_foreground_color(images)
    predicted = (features @ references.colors.T).argmax(dim=1)
    return torch.where(features.norm(dim=1) > 0, predicted, torch.full_like(predicted, -1))


def shape_scores(images: Tensor, references: References) -> Tensor:
    """[B, 3, H, W] -> [B, 8] best silhouette IoU with each shape's references."""
    if images.shape[-2:] != references.silhouettes.shape[-2:]:
        raise ValueError(f"images must be {list(references.silhouettes.shape[-2:])} like the references, "
                         f"got {list(images.shape[-2:])}")
    masks = foreground_mask(images).flatten(1).float()  # [B, P]
    refs = references.silhouettes.flatten(2).float()  # [S, K, P]
    intersection = torch.einsum("bp,skp->bsk", masks, refs)
    union = masks.sum(dim=1)[:, None, None] + refs.sum(dim=2)[None] - intersection
    return (intersection / union.clamp_min(1.0)).amax(dim=2)


def classify_shape(images: Tensor, references: References) -> Tensor:
    """[B, 3, H, W] -> [B] index into `SHAPES` (-1 when the image has no foreground)."""
    predicted = shape_scores(images, references).argmax(dim=1)
    empty = ~foreground_mask(images).flatten(1).any(dim=1)
    return torch.where(empty, torch.full_like(predicted, -1), predicted)


def view_camera(scheme: ViewScheme, view: str) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of the camera in the middle of ``view`` of ``scheme``: the centre of the
    view's first sector at `CHECK_ELEVATION`, or azimuth 0 at `OVERHEAD_ELEVATION` for "overhead"."""
    if view not in scheme.labels:
        raise ValueError(f"view must be one of {scheme.labels} (view scheme {scheme.name!r}), got {view!r}")
    if view == "overhead":
        return 0.0, OVERHEAD_ELEVATION
    index = scheme.azimuth_labels.index(view)
    edges = scheme.sector_edges
    return (edges[index] + edges[index + 1]) / 2.0, CHECK_ELEVATION


def yaw_classes(scheme: ViewScheme) -> dict[str, bool] | None:
    """Azimuth label -> True when a cube seen from that sector is face-on (the sector holds a multiple of 90
    degrees), False when corner-on (it holds an odd multiple of 45); None when some label holds both (the
    scheme says nothing of a 4-fold symmetric shape's yaw, e.g. DreamFusion's 90-degree sectors)."""
    face = {scheme.label(azimuth, 0.0) for azimuth in (0.0, 90.0, 180.0, 270.0)}
    corner = {scheme.label(azimuth, 0.0) for azimuth in (45.0, 135.0, 225.0, 315.0)}
    if face & corner:
        return None
    return {label: label in face for label in scheme.labels if label != "overhead"}


def build_yaw_references(resolution: int = 32, supersample: int = 2, mesh_resolution: int = 48,
                         elevations: Sequence[float] = REFERENCE_ELEVATIONS,
                         distances: Sequence[float] = REFERENCE_DISTANCES) -> Tensor:
    """Cube silhouettes [2, K, H, W] bool: face-on (`FACE_ON_AZIMUTHS`) then corner-on (`CORNER_ON_AZIMUTHS`)."""
    shape_index = [shape.name for shape in SHAPES].index(YAW_SHAPE)
    masks = []
    for azimuths in (FACE_ON_AZIMUTHS, CORNER_ON_AZIMUTHS):
        cameras = reference_cameras("front", elevations, azimuths, distances, SECTORS8)
        buffers = render_geometry(shape_index, cameras, supersample * resolution, mesh_resolution)
        lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
        dark = shade_geometry(buffers, (0.2, 0.2, 0.2), lights, ["albedo"] * len(cameras), resolution)
        masks.append(foreground_mask(dark))
    return torch.stack(masks)


def classify_yaw(images: Tensor, yaw_references: Tensor) -> Tensor:
    """[B, 3, H, W] cube images -> [B] bool, True when the silhouette is nearer (best IoU) a face-on cube."""
    scores = shape_scores(images, References(torch.zeros(2, 3), yaw_references))  # [B, 2]
    return scores[:, 0] > scores[:, 1]


def check_yaw(path: str, unet: Any, scheduler: Any, scheme: ViewScheme, guidance_scale: float, seed: int,
              num_inference_steps: int, eta: float, text_max_length: int = 32,
              yaw_references: Tensor | None = None, truth_views: int = 64) -> dict[str, Any] | None:
    """Draw "a {color} cube, {view} view" for every color at every probe azimuth (`YAW_PROBES`; a
    camera-conditioned prior also gets the probe camera) and read face-on / corner-on.

    Returns None when the prior can express no yaw: not camera-conditioned and ``scheme`` has sectors as wide as
    the cube's period (`yaw_classes`); else a dict: ``accuracy`` (share of the samples read as the probe's
    azimuth says), ``per_label`` {probe name: accuracy}, ``labels`` (the probe names), ``camera`` (whether the
    camera was passed), ``truth_accuracy`` (the same classifier on ground-truth cube renders from ``truth_views``
    random cameras of the training distribution), ``samples`` [8 * 8, 3, H, W] (row i: probe i, column j:
    color j).
    """
    camera = camera_feature_dim(unet) is not None
    if not camera and yaw_classes(scheme) is None:
        return None
    labels = [name for name, _ in YAW_PROBES]
    azimuths = torch.tensor([azimuth for _, azimuth in YAW_PROBES])
    resolution = unet.config.sample_size
    if yaw_references is None:
        yaw_references = build_yaw_references(resolution)
    cube = [obj for obj in toy64() if obj.shape.name == YAW_SHAPE]
    encoder = MiniLMTextEncoder(max_length=text_max_length)
    captions = scheme.view_labels(azimuths, torch.full_like(azimuths, CHECK_ELEVATION))
    cond = encoder.encode([view_prompt(obj.prompt, caption) for caption in captions for obj in cube]).tokens
    uncond = encoder.encode([""], allow_empty=True).tokens
    features = None
    if camera:
        probe_azimuths = azimuths.repeat_interleave(len(cube))
        features = camera_features(probe_azimuths, torch.full_like(probe_azimuths, CHECK_ELEVATION))
    generator = torch.Generator().manual_seed(seed)
    samples = sample_prior(unet, scheduler, cond, uncond, guidance_scale, num_inference_steps, eta, generator,
                           camera_features=features)
    face_on = classify_yaw(samples, yaw_references).reshape(len(labels), len(cube))
    expected = (azimuths % 90.0 == 0.0)[:, None]
    correct = face_on == expected
    cameras = sample_cameras(truth_views, generator=torch.Generator().manual_seed(seed))
    shape_index = [shape.name for shape in SHAPES].index(YAW_SHAPE)
    buffers = render_geometry(shape_index, cameras, 2 * resolution)
    lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
    truth = shade_geometry(buffers, cube[0].color.rgb, lights, ["lambertian"] * truth_views, resolution)
    face_on_sectors = yaw_classes(SECTORS8)
    truth_expected = torch.tensor([face_on_sectors[label]
                                   for label in SECTORS8.view_labels(cameras.azimuth, torch.zeros(truth_views))])
    return {
        "path": path, "scheme": scheme.name, "labels": labels, "camera": camera,
        "accuracy": float(correct.float().mean()),
        "per_label": {label: float(row.float().mean()) for label, row in zip(labels, correct, strict=True)},
        "truth_accuracy": float((classify_yaw(truth, yaw_references) == truth_expected).float().mean()),
        "samples": samples,
    }


def check_prior(path: str | None = None, guidance_scale: float = SAMPLE_GUIDANCE_SCALE, seed: int = 0,
                num_inference_steps: int = 50, view: str = "front", text_max_length: int = 32,
                references: References | None = None, eta: float = SAMPLE_ETA, yaw: bool = True) -> dict[str, Any]:
    """Sample the prior once per Toy64 prompt (+ ``view`` suffix) and classify color and shape; with ``yaw``,
    also run `check_yaw` (None for a prior that cannot express yaw). A camera-conditioned prior samples at
    `view_camera` of ``view``.

    Args:
        path: the prior's pipeline folder; None means the bundled ``atom/weights/toy_prior``.
        guidance_scale, num_inference_steps, eta: classifier-free guidance scale, DDIM steps and noise
            (`atom.toyworld.prior.sample_prior`).
        seed: seeds the initial noise.
        view: the view suffix of every prompt, one of the labels of the prior's view scheme
            (`prior_view_scheme`).
        text_max_length: MiniLM token length the prior was trained with.
        references: prebuilt `build_references(view=view)` (built here when None).

    Returns:
        A dict: ``results`` (one dict per prompt: prompt, color, shape, predicted_color,
        predicted_shape, color_ok, shape_ok), ``color_accuracy`` and ``shape_accuracy`` (fractions of
        the 64), the settings (path, guidance_scale, num_inference_steps, eta, seed, view), ``samples``
        [64, 3, H, W] in [0, 1] (row-major: shape i, color j at i * 8 + j) and ``yaw`` (`check_yaw`'s dict or
        None).
    """
    path = asset_path("toy_prior") if path is None else str(path)
    scheme = prior_view_scheme(path)
    if view not in scheme.labels:
        raise ValueError(f"view must be one of {scheme.labels} (the view scheme {scheme.name!r} of {path}), "
                         f"got {view!r}")
    unet, scheduler = load_prior(path)
    objects = toy64()
    encoder = MiniLMTextEncoder(max_length=text_max_length)
    cond = encoder.encode([view_prompt(obj.prompt, view) for obj in objects]).tokens
    uncond = encoder.encode([""], allow_empty=True).tokens
    features = None
    if camera_feature_dim(unet) is not None:
        azimuth, elevation = view_camera(scheme, view)
        features = camera_features([azimuth] * len(objects), [elevation] * len(objects))
    generator = torch.Generator().manual_seed(seed)
    samples = sample_prior(unet, scheduler, cond, uncond, guidance_scale, num_inference_steps, eta, generator,
                           camera_features=features)
    if references is None:
        references = build_references(unet.config.sample_size, view, scheme=scheme)
    colors = classify_color(samples, references).tolist()
    shapes = classify_shape(samples, references).tolist()
    results = []
    for obj, color, shape in zip(objects, colors, shapes, strict=True):
        color_name = COLORS[color].name if color >= 0 else "none"
        shape_name = SHAPES[shape].name if shape >= 0 else "none"
        results.append({"prompt": obj.prompt, "color": obj.color.name, "shape": obj.shape.name,
                        "predicted_color": color_name, "predicted_shape": shape_name,
                        "color_ok": color_name == obj.color.name,
                        "shape_ok": shape_name == obj.shape.name})
    return {
        "path": path, "guidance_scale": guidance_scale, "num_inference_steps": num_inference_steps,
        "eta": eta, "seed": seed, "view": view, "results": results,
        "color_accuracy": sum(r["color_ok"] for r in results) / len(results),
        "shape_accuracy": sum(r["shape_ok"] for r in results) / len(results),
        "samples": samples,
        "yaw": check_yaw(path, unet, scheduler, scheme, guidance_scale, seed, num_inference_steps, eta,
                         text_max_length) if yaw else None,
    }


def format_check(check: dict[str, Any]) -> str:
    """The result of `check_prior` as a text table (misses marked) with the two accuracies."""
    lines = [f"{'prompt':<26} {'color':<8} {'shape':<11}"]
    for r in check["results"]:
        color = r["predicted_color"] + ("" if r["color_ok"] else " X")
        shape = r["predicted_shape"] + ("" if r["shape_ok"] else " X")
        lines.append(f"{r['prompt']:<26} {color:<8} {shape:<11}")
    lines.append(f"color accuracy {check['color_accuracy']:.3f}, "
                 f"shape accuracy {check['shape_accuracy']:.3f} (guidance {check['guidance_scale']}, "
                 f"{check['num_inference_steps']} DDIM steps, eta {check['eta']}, "
                 f"seed {check['seed']}, '{check['view']} view')")
    if check.get("yaw") is not None:
        lines.append(yaw_summary(check["yaw"]))
    return "\n".join(lines)


def yaw_summary(yaw: dict[str, Any]) -> str:
    """One line: the yaw accuracy of `check_yaw`, per label, and that of ground truth."""
    per_label = ", ".join(f"{label} {value:.2f}" for label, value in yaw["per_label"].items())
    return (f"yaw accuracy {yaw['accuracy']:.3f} (goal >= {YAW_ACCURACY_GOAL}, chance 0.5; ground-truth renders "
            f"{yaw['truth_accuracy']:.3f}); per view: {per_label}")


def check_markdown(check: dict[str, Any] | None) -> list[str]:
    """The model card's "Check" section (lines, without its heading) for a `check_prior` result."""
    if check is None:
        return ["Not run yet."]
    misses = [r for r in check["results"] if not (r["color_ok"] and r["shape_ok"])]
    return [
        f"`python -m atom.toyworld.prior_check guidance_scale={check['guidance_scale']} "
        f"num_inference_steps={check['num_inference_steps']} eta={check['eta']} seed={check['seed']} "
        f"view={check['view']}`:",
        f'one sample per Toy64 prompt with the suffix ", {check["view"]} view"',
        f"(DDIM, classifier-free guidance at s = {check['guidance_scale']}), read by nearest-reference",
        "classifiers built from ground-truth renders (`atom/toyworld/prior_check.py`).",
        "",
        f"- color accuracy: **{check['color_accuracy']:.3f}** (mean foreground color)",
        f"- shape accuracy: **{check['shape_accuracy']:.3f}** (silhouette IoU)",
        "- misses: " + ("; ".join(f"{r['prompt']} -> {r['predicted_color']} {r['predicted_shape']}"
                                  for r in misses) or "none"),
        "",
        "`samples.png` shows those 64 samples: row i is shape i, column j color j",
        "(`atom.toyworld.shapes.SHAPES`, `COLORS`).",
        *yaw_markdown(check.get("yaw")),
    ]


def yaw_markdown(yaw: dict[str, Any] | None) -> list[str]:
    """The model card's lines on `check_yaw` (none when it did not run)."""
    if yaw is None:
        return []
    return [
        "",
        f'Yaw: "a {{color}} {YAW_SHAPE}, {{view}} view" for the 8 colors at the {len(yaw["labels"])} azimuths '
        f"0, 45, ..., 315 (views named by view scheme `{yaw['scheme']}`"
        + (f", camera features at elevation {CHECK_ELEVATION:g}" if yaw.get("camera") else "")
        + "), read face-on or corner-on from the silhouette",
        "(`check_yaw`; face-on expected at multiples of 90 degrees, corner-on at the diagonals):",
        "",
        f"- yaw accuracy: **{yaw['accuracy']:.3f}** (goal >= {YAW_ACCURACY_GOAL}; chance 0.5; ground-truth cube "
        f"renders at random cameras: {yaw['truth_accuracy']:.3f})",
        "- per view: " + ", ".join(f"{label} {value:.2f}" for label, value in yaw["per_label"].items()),
        "",
        f"`{YAW_SAMPLES_FILE}` shows those samples: row i is view i in that order, column j color j.",
    ]


def record_check(directory: str | Path, check: dict[str, Any]) -> None:
    """Write a `check_prior` result into a prior folder: the card's "## Check" section and samples.png."""
    card_path = Path(directory) / CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else "# Toy64 diffusion prior\n"
    head = card.split(CHECK_HEADING)[0].rstrip("\n")
    card = "\n".join([head, "", CHECK_HEADING, "", *check_markdown(check)]) + "\n"
    card_path.write_text(card, encoding="utf-8")
    image_grid(check["samples"], len(SHAPES)).save(Path(directory) / SAMPLES_FILE)
    if check.get("yaw") is not None:
        image_grid(check["yaw"]["samples"], len(check["yaw"]["labels"])).save(Path(directory) / YAW_SAMPLES_FILE)


def run_check(cfg: PriorCheckCommandConfig) -> dict[str, Any]:
    """Run `check_prior` as ``cfg`` says, print the table and, with ``cfg.record``, write it into the card."""
    check = check_prior(cfg.path, cfg.guidance_scale, cfg.seed, cfg.num_inference_steps, cfg.view.value,
                        eta=cfg.eta)
    print(format_check(check), flush=True)
    if cfg.record:
        record_check(check["path"], check)
    return check


@hydra.main(version_base="1.3", config_path=str(CONF_DIR / "prior"), config_name="prior_check")
def main(cfg: DictConfig) -> None:
    run_check(OmegaConf.to_object(cfg))


if __name__ == "__main__":
    main()
