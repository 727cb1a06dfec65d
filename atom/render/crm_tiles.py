"""CRM's tiled input layout: six views -> two rows of three plane-aligned tiles, and back.

CRM's reconstruction UNet reads its six views (and six CCMs) as one ``[2 C, S, 3 S]`` image per kind: two
rows of three ``S x S`` tiles stacked along channels. Columns ``[0, S)``, ``[S, 2S)``, ``[2S, 3S)`` are the
planes xy, yz, zx; each tile is a view turned so that its pixel ``(r, c)`` sits at the plane's grid
coordinates ``a = -1 + 2 c / (S - 1)``, ``b = -1 + 2 r / (S - 1)`` (``grid_sample`` with
``align_corners=True``; plane xy has ``(a, b) = (x, y)``, yz ``(y, z)``, zx ``(z, x)``). The views
(:mod:`atom.render.crm_views`) span ``[-1, 1]`` edge to edge, so a point's tile pixel and its plane grid
coordinate agree to within one texel (exactly at the centre; half a texel at the edges): CRM's own
convention, kept for weight compatibility. Checked once against the CCMs of CRM's released training example
(512-px tiles): in all six tiles the decoded plane coordinates fit ``(a, b)`` with slope 1.002-1.005 and offset
below 0.006 (the 8-bit CCM step is 0.008).

=====  =====  ======  ==================================================================
row    plane  view    turn (``in``: the view ``[S, S]``, ``out``: the tile)
=====  =====  ======  ==================================================================
1      xy     bottom  rotated 180 degrees: ``out[r, c] = in[S-1-r, S-1-c]``
1      yz     right   rotated 180 degrees
1      zx     front   anti-transposed: ``out[r, c] = in[S-1-c, S-1-r]``
2      xy     top     flipped left-right: ``out[r, c] = in[r, S-1-c]``
2      yz     left    flipped top-bottom: ``out[r, c] = in[S-1-r, c]``
2      zx     back    rotated 90 degrees clockwise: ``out[r, c] = in[S-1-c, r]``
=====  =====  ======  ==================================================================

The UNet input (:func:`crm_unet_input`) is ``[rgb row 1, rgb row 2, ccm row 1, ccm row 2]`` = 12 channels.
CCM channels are read reversed (channel 0 = Z, 1 = Y, 2 = X), and of each CCM tile only the coordinate along
its plane's normal is kept (xy: Z, yz: X, zx: Y); the other two channels are zero.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from atom.render.crm_views import CRM_VIEW_NAMES


def _rotate_180(image: Tensor) -> Tensor:
    return image.flip(-2, -1)


def _flip_left_right(image: Tensor) -> Tensor:
    return image.flip(-1)


def _flip_top_bottom(image: Tensor) -> Tensor:
    return image.flip(-2)


def _anti_transpose(image: Tensor) -> Tensor:
    return image.transpose(-2, -1).flip(-2, -1)


def _rotate_clockwise(image: Tensor) -> Tensor:
    return torch.rot90(image, k=-1, dims=(-2, -1))


def _rotate_anticlockwise(image: Tensor) -> Tensor:
    return torch.rot90(image, k=1, dims=(-2, -1))


Turn = Callable[[Tensor], Tensor]
PLANE_NAMES: tuple[str, ...] = ("xy", "yz", "zx")
PLANE_NORMAL_AXIS: tuple[int, ...] = (2, 0, 1)
"""The world axis (x=0, y=1, z=2) normal to each plane of :data:`PLANE_NAMES`: the CCM coordinate kept."""
# (row, plane) -> (view name, turn view -> tile, turn tile -> view), rows 0 and 1, planes xy, yz, zx.
TILE_LAYOUT: tuple[tuple[tuple[str, Turn, Turn], ...], ...] = (
    (
        ("bottom", _rotate_180, _rotate_180),
        ("right", _rotate_180, _rotate_180),
        ("front", _anti_transpose, _anti_transpose),
    ),
    (
        ("top", _flip_left_right, _flip_left_right),
        ("left", _flip_top_bottom, _flip_top_bottom),
        ("back", _rotate_clockwise, _rotate_anticlockwise),
    ),
)


def _check_views(name: str, views: Tensor) -> None:
    if views.dim() < 4 or views.shape[-4] != len(CRM_VIEW_NAMES) or views.shape[-1] != views.shape[-2]:
        raise ValueError(
            f"{name} must be [..., 6, C, S, S] (views {', '.join(CRM_VIEW_NAMES)}; square), got {list(views.shape)}"
        )


def tile_views(views: Tensor) -> Tensor:
    """Six views ``[..., 6, C, S, S]`` (:data:`~atom.render.crm_views.CRM_VIEW_NAMES` order) -> CRM's tiles
    ``[..., 2 C, S, 3 S]`` (row 1's C channels, then row 2's)."""
    _check_views("views", views)
    rows = []
    for row in TILE_LAYOUT:
        tiles = [to_tile(views[..., CRM_VIEW_NAMES.index(view), :, :, :]) for view, to_tile, _ in row]
        rows.append(torch.cat(tiles, dim=-1))
    return torch.cat(rows, dim=-3)


def untile_views(tiles: Tensor) -> Tensor:
    """The inverse of :func:`tile_views`: ``[..., 2 C, S, 3 S]`` -> ``[..., 6, C, S, S]`` (exact)."""
    if tiles.dim() < 3 or tiles.shape[-3] % 2 or tiles.shape[-1] != 3 * tiles.shape[-2]:
        raise ValueError(f"tiles must be [..., 2 C, S, 3 S], got {list(tiles.shape)}")
    size = tiles.shape[-2]
    rows = tiles.chunk(2, dim=-3)
    views: dict[str, Tensor] = {}
    for row, layout in zip(rows, TILE_LAYOUT):
        for plane, (view, _, to_view) in enumerate(layout):
            views[view] = to_view(row[..., plane * size : (plane + 1) * size])
    return torch.stack([views[name] for name in CRM_VIEW_NAMES], dim=-4)


def _check_unit_range(name: str, image: Tensor) -> None:
    if image.numel() and (float(image.min()) < 0.0 or float(image.max()) > 1.0):
        raise ValueError(f"{name} values must be in [0, 1], got [{float(image.min())}, {float(image.max())}]")


def crm_unet_input(rgb: Tensor, ccm: Tensor) -> Tensor:
    """CRM's 12-channel UNet input from six color views and six CCMs.

    Args:
        rgb: [B, 6, 3, S, S] color in [0, 1], views in :data:`~atom.render.crm_views.CRM_VIEW_NAMES` order.
        ccm: [B, 6, 3, S, S] CCMs in [0, 1], channels X, Y, Z (as :func:`atom.render.ccm.ccm_shade`).

    Returns:
        [B, 12, S, 3 S]: tiled rgb (6 channels), then the tiled, channel-reversed CCMs (6 channels) with only
        each plane's normal coordinate kept.
    """
    for name, value in (("rgb", rgb), ("ccm", ccm)):
        if value.dim() != 5 or value.shape[1:3] != (6, 3) or value.shape[-1] != value.shape[-2]:
            raise ValueError(f"{name} must be [B, 6, 3, S, S], got {list(value.shape)}")
        _check_unit_range(name, value)
    if rgb.shape != ccm.shape:
        raise ValueError(f"rgb and ccm must have one shape, got {list(rgb.shape)} and {list(ccm.shape)}")
    size = rgb.shape[-1]
    ccm_tiles = tile_views(ccm.flip(2))  # channels Z, Y, X
    keep = torch.zeros(6, 1, 3 * size, dtype=ccm.dtype, device=ccm.device)
    for plane, axis in enumerate(PLANE_NORMAL_AXIS):
        reversed_channel = 2 - axis
        for row in range(2):
            keep[row * 3 + reversed_channel, :, plane * size : (plane + 1) * size] = 1.0
    return torch.cat([tile_views(rgb), ccm_tiles * keep], dim=1)
