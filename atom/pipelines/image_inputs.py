"""One picture of an object -> the input of image-to-mesh's first stage: the object cut out, centred and padded
onto CRM's grey, ``[3, S, S]`` float in [0, 1].

The file is read by :func:`atom.pipelines.crm_inputs.read_pixels` (Pillow; any 8-bit format it opens: PNG,
JPEG, WebP, BMP, ...). The object's mask (alpha) ``a`` in [0, 1] comes from:

- an **RGBA cut-out**: its alpha channel (an alpha that is opaque everywhere carries no cut-out: the picture
  is then treated as RGB, and this is logged);
- an **RGB picture on a plain background** (the toy prior draws on white): the background color ``b`` is the
  per-channel median of the border pixels (a frame ``BORDER_FRACTION`` of the side wide); at least
  ``PLAIN_BORDER_SHARE`` of the border must lie within ``BACKGROUND_TOLERANCE`` of it, else the background is
  not plain and no object can be cut out. Each pixel's distance to it is ``d = max_c |x_c - b_c|``. A pixel
  is *solid* when ``d > t1`` and *interior* when it and its 8 neighbours are solid (mask 1). Around them the
  pixel is taken as a blend ``x = a c + (1 - a) b`` of the object's color ``c``, read from the most contrasted
  interior neighbour: ``a = d / d_neighbour`` (a one-pixel matting of the antialiased edge); without an
  interior neighbour (thin parts) ``a = clamp((d - t0) / (t1 - t0), 0, 1)``; ``d <= t0`` is background
  (``t0, t1 = CUT_OUT_RAMP``: JPEG noise stays out). The color is un-blended, ``c = b + (x - b) / a``, so no
  fringe of the old background is carried onto the grey.

Placement: the mask's centroid ``m`` (pixel-edge coordinates) becomes the image centre of a square canvas, which is
resized to ``S``. Its side (source pixels) depends on ``foreground_ratio``:

- ``None`` (the default) keeps the picture's framing: the side is the picture's longer side (larger only where
  the object would not fit once centred: ``2 r / MAX_FILL``, ``r`` the largest distance from ``m`` to an edge
  of the mask's bounding box ``a > 0.5``). The object keeps its size relative to the frame, which is what the toy
  stages need: their pictures have a fixed camera distance and field of view, so an object's size in pixels
  tells its scale (:mod:`atom.toyworld.multiview_data`);
- a number in (0, 1] rescales: the side is ``2 r / foreground_ratio``, so a symmetric object's longer side
  fills that share of the image (CRM's own preprocessing, for pictures from any camera).

The color is composited over the grey ``g``, ``a x + (1 - a) g``, and resampled at the exact (fractional)
canvas position with bilinear ``grid_sample`` (grey outside the picture), after an antialiased shrink by the
exact scale when the canvas is larger than ``S``. No rounding of the offset: the centroid lands at the centre
up to resampling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from atom.pipelines.crm_inputs import ViewInputError, read_pixels
from atom.render.ccm import CRM_BACKGROUND

logger = logging.getLogger(__name__)

MIN_IMAGE_SIZE = 32
"""The smallest side (pixels) of an input picture: the toy prior's renders are 32 x 32."""
BORDER_FRACTION = 1 / 32
"""Width of the border frame whose pixels estimate a plain background, as a share of the side (at least 1 px)."""
BACKGROUND_TOLERANCE = 0.1
"""A border pixel is background when no channel differs from the estimated background color by more."""
PLAIN_BORDER_SHARE = 0.9
"""Share of the border that must be background for the background to count as plain."""
CUT_OUT_RAMP = (0.06, 0.16)
"""``(t0, t1)``: distances to the background color (max over channels): background at or below ``t0``, solid
object above ``t1``."""
MIN_OBJECT_PIXELS = 4
"""An object needs at least this many pixels with mask > 0.5."""
MAX_FILL = 0.95
"""Keeping the framing, an object that would not fit once centred is shrunk to this share of the image side."""
DEFAULT_FOREGROUND_RATIO: float | None = None
"""Keep the picture's framing (module docstring); a number is the object's share of the image side."""
ACCEPTED = (f"accepted: an 8-bit image file (PNG, JPEG, WebP, ...) at least {MIN_IMAGE_SIZE} x {MIN_IMAGE_SIZE} px "
            "showing one object, either as an RGBA cut-out (alpha marks the object) or on a plain background")


class ImageInputError(ValueError):
    """A picture that cannot become image-to-mesh's input: missing, unreadable, too small, or without an object
    that can be cut out. The message names the file and what is accepted."""


@dataclass(frozen=True)
class CutOut:
    """An object cut out of a picture: rgb ``[3, H, W]`` and mask ``[1, H, W]`` in [0, 1] (the picture's own
    size), how the mask was found (``"alpha"`` or ``"background"``) and the estimated background color (RGB in
    [0, 1]; ``None`` for an alpha cut-out)."""

    rgb: Tensor
    mask: Tensor
    how: str
    background: tuple[float, float, float] | None


@dataclass(frozen=True)
class PreparedImage:
    """A picture made ready for stage 1: image ``[3, S, S]`` in [0, 1] (the object on CRM's grey), mask
    ``[1, S, S]`` (the object's coverage after placement), and the cut-out it came from."""

    image: Tensor
    mask: Tensor
    cut_out: CutOut


def _fail(path: Path, problem: str) -> ImageInputError:
    return ImageInputError(f"image {str(path)!r}: {problem}; {ACCEPTED}")


def read_object_image(path: str | Path) -> Tensor:
    """An image file -> ``[3, H, W]`` or ``[4, H, W]`` (with alpha) float in [0, 1], at least
    ``MIN_IMAGE_SIZE`` px on each side.

    Raises:
        ImageInputError: a missing path, a folder, an unreadable or non-image file, or a too small image.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise _fail(path, "no such file")
    if not path.is_file():
        raise _fail(path, "is a folder, not an image file")
    try:
        pixels = read_pixels(path)
    except ViewInputError as err:
        raise ImageInputError(f"{err}; {ACCEPTED}") from err
    height, width = pixels.shape[-2:]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise _fail(path, f"is {height} x {width} px (height x width), smaller than {MIN_IMAGE_SIZE} px")
    return pixels


def border_pixels(image: Tensor) -> Tensor:
    """The pixels of a frame ``BORDER_FRACTION`` of the shorter side wide (at least 1 px) around ``image``
    ``[C, H, W]`` -> ``[C, N]``."""
    height, width = image.shape[-2:]
    width_px = max(1, round(BORDER_FRACTION * min(height, width)))
    frame = torch.zeros(height, width, dtype=torch.bool)
    frame[:width_px], frame[-width_px:], frame[:, :width_px], frame[:, -width_px:] = True, True, True, True
    return image[:, frame]


def background_cut_out(rgb: Tensor, path: Path) -> tuple[Tensor, Tensor, tuple[float, float, float]]:
    """Cut the object out of an RGB picture ``[3, H, W]`` on a plain background (module docstring): its straight
    color ``[3, H, W]``, its soft mask ``[1, H, W]``, and the background color (the border's per-channel median).

    Raises:
        ImageInputError: the border is not plain (no background to cut out against)."""
    border = border_pixels(rgb)
    background = border.median(dim=1).values[:, None, None]  # [3, 1, 1]
    plain = float(((border - background[:, :, 0]).abs().amax(dim=0) <= BACKGROUND_TOLERANCE).float().mean())
    color = tuple(round(float(c), 4) for c in background.flatten())
    if plain < PLAIN_BORDER_SHARE:
        raise _fail(path, f"no object can be cut out: the background is not plain (only {plain:.0%} of the "
                          f"border is near its median color {color}, {PLAIN_BORDER_SHARE:.0%} needed); give an "
                          f"RGBA cut-out instead")
    distance = (rgb - background).abs().amax(dim=0, keepdim=True)  # [1, H, W]
    low, high = CUT_OUT_RAMP
    solid = (distance > high).float()[None]
    interior = (-F.max_pool2d(-solid, 3, stride=1, padding=1))[0] > 0.5  # solid with all 8 neighbours solid
    reference = F.max_pool2d((distance * interior)[None], 3, stride=1, padding=1)[0]  # a neighbour's contrast
    ramp = ((distance - low) / (high - low)).clamp(0.0, 1.0)
    edge = torch.where(reference > 0, (distance / reference.clamp_min(1e-6)).clamp(0.0, 1.0), ramp)
    mask = torch.where(interior, torch.ones_like(edge), torch.where(distance > low, edge, torch.zeros_like(edge)))
    straight = torch.where(mask > 0, background + (rgb - background) / mask.clamp_min(1e-6), rgb).clamp(0.0, 1.0)
    return straight, mask, color


def object_mask(pixels: Tensor, path: Path) -> CutOut:
    """The object in ``pixels`` ``[3 or 4, H, W]``: its straight color and mask, how the mask was found
    (``"alpha"`` or ``"background"``) and the background color (``None`` for alpha).

    Raises:
        ImageInputError: a fully transparent RGBA, a background that is not plain, or no object pixel."""
    if pixels.shape[0] == 4:
        alpha = pixels[3:]
        if not bool((alpha > 0).any()):
            raise _fail(path, "is RGBA but fully transparent (alpha 0 everywhere): the alpha must mark the object")
        if bool((alpha < 1).any()):
            rgb, mask, how, background = pixels[:3], alpha, "alpha", None
        else:
            logger.info("%s: the alpha channel is opaque everywhere; cutting out against the background", path)
            rgb, mask, background = background_cut_out(pixels[:3], path)
            how = "background"
    else:
        rgb, mask, background = background_cut_out(pixels, path)
        how = "background"
    if int((mask > 0.5).sum()) < MIN_OBJECT_PIXELS:
        where = "in its alpha channel" if how == "alpha" else f"that differs from its background {background}"
        raise _fail(path, f"no object can be cut out: fewer than {MIN_OBJECT_PIXELS} pixels {where}")
    return CutOut(rgb, mask, how, background)


def place_object(rgb: Tensor, mask: Tensor, size: int, foreground_ratio: float | None = DEFAULT_FOREGROUND_RATIO,
                 background: float = CRM_BACKGROUND) -> tuple[Tensor, Tensor]:
    """Centre the object (its mask's centroid) in a square canvas (the picture's framing, or sized to the object),
    composite it over the ``background`` grey and resample to ``size``; see the module docstring.

    Args:
        rgb: ``[3, H, W]`` in [0, 1]. mask: ``[1, H, W]`` in [0, 1] with at least one pixel above 0.5.
        size: S, the output side (pixels). foreground_ratio: ``None`` keeps the picture's framing, a number in
            (0, 1] is twice the object's largest reach from its centroid over the image side.

    Returns:
        The image ``[3, S, S]`` and the mask ``[1, S, S]``, both in [0, 1].
    """
    if foreground_ratio is not None and not 0.0 < foreground_ratio <= 1.0:
        raise ValueError(f"foreground_ratio must be in (0, 1], got {foreground_ratio}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    height, width = mask.shape[-2:]
    centres_y = torch.arange(height, dtype=mask.dtype) + 0.5  # pixel centres, in pixel-edge coordinates
    centres_x = torch.arange(width, dtype=mask.dtype) + 0.5
    total = mask.sum()
    cy = float((mask[0].sum(dim=1) * centres_y).sum() / total)
    cx = float((mask[0].sum(dim=0) * centres_x).sum() / total)
    rows = torch.nonzero((mask[0] > 0.5).any(dim=1)).flatten()
    cols = torch.nonzero((mask[0] > 0.5).any(dim=0)).flatten()
    reach = max(cy - int(rows[0]), int(rows[-1]) + 1 - cy, cx - int(cols[0]), int(cols[-1]) + 1 - cx)
    if foreground_ratio is None:  # the canvas side in source pixels
        side = max(float(max(height, width)), 2.0 * reach / MAX_FILL)
    else:
        side = 2.0 * reach / foreground_ratio
    layers = torch.cat([(rgb - background) * mask, mask])[None]  # [1, 4, H, W], zero outside the object
    scale = size / side
    if scale < 1.0:  # shrink first with an antialiasing filter; the exact scale keeps coordinates proportional
        layers = F.interpolate(layers, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False,
                               recompute_scale_factor=False)
        cy, cx, side = cy * scale, cx * scale, float(size)
    offsets = (torch.arange(size, dtype=mask.dtype) + 0.5 - size / 2) * (side / size)
    ys = 2.0 * (cy + offsets) / layers.shape[-2] - 1.0  # grid_sample's normalised coordinates (align_corners=False)
    xs = 2.0 * (cx + offsets) / layers.shape[-1] - 1.0
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)[None]  # [1, S, S, 2] as (x, y)
    placed = F.grid_sample(layers, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    return (placed[:3] + background).clamp(0.0, 1.0), placed[3:].clamp(0.0, 1.0)


def cut_out(path: str | Path) -> CutOut:
    """Read a picture of one object and find its mask (module docstring).

    Raises:
        ImageInputError: a missing, unreadable or non-image file, an image smaller than ``MIN_IMAGE_SIZE`` px,
            a fully transparent RGBA, or no object that can be cut out; each message names the file and what is
            accepted.
    """
    path = Path(path).expanduser()
    return object_mask(read_object_image(path), path)


def prepare_image(path: str | Path, size: int, foreground_ratio: float | None = DEFAULT_FOREGROUND_RATIO,
                  background: float = CRM_BACKGROUND) -> PreparedImage:
    """Read a picture of one object and make it stage 1's input ``[3, size, size]``: :func:`cut_out`, then
    :func:`place_object` (raises ``ImageInputError`` as :func:`cut_out`)."""
    found = cut_out(path)
    image, mask = place_object(found.rgb, found.mask, size, foreground_ratio, background)
    return PreparedImage(image, mask, found)
