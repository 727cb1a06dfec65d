"""Training and evaluation pairs for the multi-view diffusion stages: one picture -> six views + six CCMs.

An example is a posed toy object of :mod:`atom.toyworld.crm_data` (its sampler, its held-out rule, its
evaluation set) rendered twice:

- the input picture ``[3, S, S]``: a perspective render (unlit vertex colors, antialiased, CRM grey
  127/255 background) from a camera looking at the origin (the object's centre) at elevation uniform in
  :data:`ELEVATION_RANGE`, distance :data:`INPUT_DISTANCE` and field of view :data:`INPUT_FOV`, rasterized at
  ``supersample * S`` px, shifted (bilinear, sub-pixel) so that the centroid of its coverage mask sits at the
  image centre, and area-averaged down to S. Centring on the mask rather than on the origin's projection is
  what a user's picture gets (the image-to-mesh preprocessing centres the cut-out's mask): train and use see
  one framing;
- the targets: the six orthographic views and CCMs ``[6, 3, T, T]`` of
  :func:`atom.render.crm_views.render_crm_views`, exactly what the reconstruction model is trained on
  (:func:`atom.toyworld.crm_data.render_unet_inputs`).

Two choices make the targets a function of the picture (otherwise the best a model can do is blur):

1. The input camera's azimuth is CRM's front (atom azimuth 90: on +Y). CRM's six views are defined relative
   to the input camera (its "front" view looks from the input's azimuth), so a camera at azimuth ``a`` on an
   object of yaw ``y`` and the front camera on the object of yaw ``y - a`` are the same picture with the
   same targets. The object's yaw, uniform in [0, 360) (held-out yaws excluded), supplies every relative
   azimuth; the held-out "unseen yaw" objects are then unseen viewing azimuths.
2. Distance and field of view are fixed (the toy prior's turntable values, inside its training ranges
   2.5-3.0 and 40-45 degrees): the object's size in pixels is ``scale * focal / distance``, so a random
   distance or zoom would hide the scale (0.75-1.15) that the orthographic views show. A picture given to the
   toy stages must keep that framing: padded or recentred, not rescaled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from atom.render.cameras import look_at
from atom.render.ccm import CRM_BACKGROUND
from atom.render.crm_views import CRM_AZIMUTH_OFFSET, render_crm_views
from atom.render.fragments import Rasterizer
from atom.toyworld.crm_data import PosedObject, held_out_objects, render_albedo_views, sample_training_object

ELEVATION_RANGE = (-10.0, 40.0)
"""Input camera elevation, degrees (uniform)."""
INPUT_AZIMUTH = 0.0 + CRM_AZIMUTH_OFFSET
"""atom azimuth of the input camera: CRM's front view (CRM azimuth 0, on +Y)."""
INPUT_DISTANCE = 2.8
INPUT_FOV = 40.0
EVAL_SEED = 4321
"""Seed of the held-out pictures' elevations (:func:`held_out_examples`)."""


@dataclass
class MultiViewExamples:
    """A batch of pictures and their targets.

    Attributes:
        inputs: [B, 3, S, S] pictures in [0, 1] on grey.
        views: [B, 6, 3, T, T] the six CRM views (CRM_VIEW_NAMES order), in [0, 1] on grey.
        ccms: [B, 6, 3, T, T] their CCMs ``(xyz + 1) / 2``, background 127/255.
        elevations: [B] input camera elevations, degrees.
        objects: the B posed objects.
    """

    inputs: Tensor
    views: Tensor
    ccms: Tensor
    elevations: Tensor
    objects: list[PosedObject]


def centre_on_mask(image: Tensor, mask: Tensor, background: float = CRM_BACKGROUND) -> Tensor:
    """Shift ``image`` [B, C, H, W] so that the centroid of ``mask`` [B, 1, H, W] (pixel-edge coordinates) lands
    on the image centre; bilinear resampling, ``background`` where the shifted image has no source pixel."""
    height, width = image.shape[-2:]
    total = mask.sum(dim=(1, 2, 3))
    if bool((total <= 0).any()):
        raise ValueError("centre_on_mask needs a non-empty mask in every image")
    rows = torch.arange(height, dtype=image.dtype) + 0.5
    cols = torch.arange(width, dtype=image.dtype) + 0.5
    centre_row = (mask[:, 0] * rows[:, None]).sum(dim=(1, 2)) / total
    centre_col = (mask[:, 0] * cols[None, :]).sum(dim=(1, 2)) / total
    # output pixel p reads input p + (centroid - centre); grid_sample's x, y in [-1, 1] span the image edges
    y = (2.0 * rows / height - 1.0)[None, :, None] + (2.0 * centre_row / height - 1.0)[:, None, None]
    x = (2.0 * cols / width - 1.0)[None, None, :] + (2.0 * centre_col / width - 1.0)[:, None, None]
    grid = torch.stack(torch.broadcast_tensors(x, y), dim=-1)
    shifted = F.grid_sample(image - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return shifted + background


def render_input(obj: PosedObject, elevation: float, size: int, rasterizer: Rasterizer, mesh_resolution: int,
                 supersample: int = 2) -> Tensor:
    """The input picture ``[3, size, size]`` of ``obj`` from the input camera at ``elevation`` degrees, centred
    on its coverage mask (module docstring)."""
    if size < 1 or supersample < 1:
        raise ValueError(f"size and supersample must be >= 1, got {size} and {supersample}")
    camera = look_at(float(elevation), INPUT_AZIMUTH, INPUT_DISTANCE, INPUT_FOV)
    rendered = render_albedo_views(obj.mesh(mesh_resolution), camera, size * supersample, rasterizer)
    picture = centre_on_mask(rendered.rgb, rendered.mask)
    return F.avg_pool2d(picture, supersample)[0].clamp(0.0, 1.0)


def render_examples(objects: Sequence[PosedObject], elevations: Tensor, input_size: int, tile_size: int,
                    rasterizer: Rasterizer, mesh_resolution: int, supersample: int = 2) -> MultiViewExamples:
    """Pictures (elevations ``[B]`` degrees) and targets of ``objects``: see the module docstring."""
    if elevations.shape != (len(objects),):
        raise ValueError(f"elevations must be [B] = [{len(objects)}], got {list(elevations.shape)}")
    inputs, views, ccms = [], [], []
    for obj, elevation in zip(objects, elevations.tolist(), strict=True):
        inputs.append(render_input(obj, elevation, input_size, rasterizer, mesh_resolution, supersample))
        mesh = obj.mesh(mesh_resolution)
        targets = render_crm_views(mesh.vertices, mesh.faces, mesh.vertex_colors, tile_size, rasterizer)
        views.append(targets.rgb)
        ccms.append(targets.ccm)
    return MultiViewExamples(torch.stack(inputs), torch.stack(views), torch.stack(ccms), elevations.float(),
                             list(objects))


def sample_elevations(n: int, generator: torch.Generator) -> Tensor:
    """``[n]`` input elevations uniform in :data:`ELEVATION_RANGE`, degrees."""
    low, high = ELEVATION_RANGE
    return low + (high - low) * torch.rand(n, generator=generator)


def sample_training_examples(n: int, generator: torch.Generator, input_size: int, tile_size: int,
                             rasterizer: Rasterizer, mesh_resolution: int, supersample: int = 2) -> MultiViewExamples:
    """``n`` training examples: objects from :func:`atom.toyworld.crm_data.sample_training_object` (never held
    out), then their elevations, all drawn from ``generator``."""
    objects = [sample_training_object(generator) for _ in range(n)]
    return render_examples(objects, sample_elevations(n, generator), input_size, tile_size, rasterizer,
                           mesh_resolution, supersample)


def held_out_examples(input_size: int, tile_size: int, rasterizer: Rasterizer, mesh_resolution: int,
                      supersample: int = 2) -> MultiViewExamples:
    """The evaluation set: :func:`atom.toyworld.crm_data.held_out_objects` (24), each seen from an elevation drawn
    once from :data:`EVAL_SEED`."""
    objects = held_out_objects()
    elevations = sample_elevations(len(objects), torch.Generator().manual_seed(EVAL_SEED))
    return render_examples(objects, elevations, input_size, tile_size, rasterizer, mesh_resolution, supersample)
