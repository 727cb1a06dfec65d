"""Reading CRM's six views (or six CCMs) from image files: a strip of six tiles, or a folder of one file per view.

Two layouts are accepted, the same for color views and CCMs:

- a **strip**: one image ``S x 6 S`` (height x width), six square tiles side by side, left to right in
  ``strip_order`` (default CRM's order :data:`~atom.render.crm_views.CRM_VIEW_NAMES`: front, left, bottom,
  back, right, top; CRM's released examples are 256 x 1536 strips in this order);
- a **folder** holding ``<view>.png`` for each of the six view names (``front.png``, ``left.png``, ...), all
  square and of one size.

Images are read with Pillow as uint8 ``[H, W, C]`` and become float ``[3, H, W]`` in [0, 1] here. Grey or
palette images become RGB; an image with an alpha channel is composited over CRM's grey background (127/255,
also the CCM background) and must have at least one non-transparent pixel. Each tile must have the model's
tile size; a different size is an error unless ``resize`` is set (color: bilinear with antialiasing; CCM:
nearest neighbour, since a blend of a surface coordinate and the background is no surface point).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from atom.render.ccm import CRM_BACKGROUND
from atom.render.crm_views import CRM_VIEW_NAMES

VIEW_SUFFIX = ".png"
EIGHT_BIT_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA")
"""Pillow modes read as they are: 8 bits per channel (16-bit or float images would be clipped by conversion)."""
LAYOUT_HELP = (
    f"a strip image S x 6S (six square tiles side by side) or a folder of "
    f"{', '.join(name + VIEW_SUFFIX for name in CRM_VIEW_NAMES)}"
)


class ViewInputError(ValueError):
    """Views or CCMs of the wrong count, size, layout or range, or an unreadable image."""


def check_strip_order(order: Sequence[str]) -> tuple[str, ...]:
    """``order`` must name each of the six views once; returns it as a tuple."""
    order = tuple(order)
    if sorted(order) != sorted(CRM_VIEW_NAMES):
        raise ViewInputError(
            f"strip_order must name each of the six views once ({', '.join(CRM_VIEW_NAMES)}), got {list(order)}"
        )
    return order


def read_pixels(path: Path) -> Tensor:
    """One 8-bit image file -> ``[3, H, W]`` (RGB) or ``[4, H, W]`` (RGBA: the file has an alpha channel or a
    transparent palette color) float in [0, 1], alpha not applied.

    Raises:
        ViewInputError: unreadable file, or not 8 bits per channel.
    """
    try:
        with Image.open(path) as image:
            if image.mode not in EIGHT_BIT_MODES:
                raise ViewInputError(f"image {str(path)!r} has Pillow mode {image.mode!r}; accepted: 8-bit "
                                     f"grey, palette, RGB or RGBA ({', '.join(EIGHT_BIT_MODES)})")
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            pixels = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))  # uint8 [H, W, C]
    except (OSError, UnidentifiedImageError, ValueError) as err:
        if isinstance(err, ViewInputError):
            raise
        raise ViewInputError(f"cannot read image {str(path)!r}: {err}") from err
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255.0


def read_image(path: Path, background: float = CRM_BACKGROUND) -> Tensor:
    """One image file -> ``[3, H, W]`` float in [0, 1]; alpha composited over ``background``.

    Raises:
        ViewInputError: unreadable file, not 8 bits per channel, or an alpha channel with no pixel above zero.
    """
    values = read_pixels(path)
    if values.shape[0] == 3:
        return values
    rgb, alpha = values[:3], values[3:]
    if not bool((alpha > 0).any()):
        raise ViewInputError(
            f"image {str(path)!r} is RGBA but fully transparent: its alpha must mark the object (or save it as RGB "
            f"on CRM's grey background {round(background * 255)}/255)"
        )
    return rgb * alpha + background * (1.0 - alpha)


def _split_strip(strip: Tensor, order: tuple[str, ...], path: Path) -> dict[str, Tensor]:
    height, width = strip.shape[-2:]
    if width != len(order) * height:
        raise ViewInputError(
            f"{str(path)!r} is {height} x {width} (height x width); a strip must be S x 6S, six square tiles side "
            f"by side (e.g. 256 x 1536), in the order {', '.join(order)}"
        )
    return {name: strip[:, :, k * height : (k + 1) * height] for k, name in enumerate(order)}


def _read_folder(folder: Path) -> dict[str, Tensor]:
    missing = [name + VIEW_SUFFIX for name in CRM_VIEW_NAMES if not (folder / (name + VIEW_SUFFIX)).is_file()]
    if missing:
        raise ViewInputError(f"folder {str(folder)!r} lacks {', '.join(missing)}; expected {LAYOUT_HELP}")
    views = {name: read_image(folder / (name + VIEW_SUFFIX)) for name in CRM_VIEW_NAMES}
    sizes = {name: tuple(view.shape[-2:]) for name, view in views.items()}
    if any(h != w for h, w in sizes.values()) or len(set(sizes.values())) != 1:
        raise ViewInputError(f"the views in {str(folder)!r} must be square and of one size, got (height, width) "
                             f"{sizes}")
    return views


def read_views(path: str | Path, order: Sequence[str] = CRM_VIEW_NAMES) -> Tensor:
    """Six views (or CCMs) from a strip image or a folder -> ``[6, 3, S, S]`` in [0, 1], CRM_VIEW_NAMES order.

    Args:
        path: the strip image file, or the folder of ``<view>.png`` files.
        order: the views of a strip, left to right (ignored for a folder, whose files are named).
    """
    path = Path(path).expanduser()
    order = check_strip_order(order)
    if path.is_dir():
        views = _read_folder(path)
    elif path.is_file():
        views = _split_strip(read_image(path), order, path)
    else:
        raise ViewInputError(f"{str(path)!r} does not exist; expected {LAYOUT_HELP}")
    return torch.stack([views[name] for name in CRM_VIEW_NAMES])


def fit_tile_size(views: Tensor, tile_size: int, resize: bool, what: str, nearest: bool = False) -> Tensor:
    """``views`` ``[6, 3, S, S]`` at the model's ``tile_size``: unchanged when it matches, resized when ``resize``
    (bilinear with antialiasing, or nearest neighbour), else an error naming both sizes."""
    size = views.shape[-1]
    if size == tile_size:
        return views
    if not resize:
        raise ViewInputError(
            f"{what} tiles are {size} x {size} px, the model takes {tile_size} x {tile_size} (a strip of "
            f"{tile_size} x {6 * tile_size}); resize them or pass resize=true"
        )
    if nearest:
        return F.interpolate(views, size=(tile_size, tile_size), mode="nearest-exact")
    return F.interpolate(views, size=(tile_size, tile_size), mode="bilinear", antialias=True).clamp(0.0, 1.0)
