"""Sampling features from a triplane at 3D points.

A triplane is a tensor ``[B, 3, C, R, R]`` of three axis-aligned feature planes covering the cube
``[-bound, bound]^3``. Plane order and the two ``grid_sample`` coordinates ``(u, v)`` of each plane
(``u`` runs along the last, width axis; ``v`` along the height axis):

======  =====  =========================  ==============
index   plane  grid_sample (u, v)         memory layout
======  =====  =========================  ==============
0       xy     (x, y)                     ``[C, y, x]``
1       xz     (x, z)                     ``[C, z, x]``
2       yz     (y, z)                     ``[C, z, y]``
======  =====  =========================  ==============

Texel centres follow ``align_corners=False``: the ``R`` texels of an axis tile ``[-bound, bound]``
evenly, so texel ``i`` is centred at ``-bound + (2 * i + 1) * bound / R``.

CRM's reconstruction model (:mod:`atom.model.reconstruction`) uses the other layout below,
:data:`CRM_PLANE_AXES`, with ``align_corners=True`` (texel ``i`` centred at ``-bound + 2 * i * bound / (R - 1)``):

======  =====  =========================  ==============
index   plane  grid_sample (u, v)         memory layout
======  =====  =========================  ==============
0       xy     (x, y)                     ``[C, y, x]``
1       yz     (y, z)                     ``[C, z, y]``
2       zx     (z, x)                     ``[C, x, z]``
======  =====  =========================  ==============
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# Which world axes (x=0, y=1, z=2) give the (u, v) grid coordinates of planes 0, 1, 2.
PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2))
# CRM's planes xy, yz, zx (its tile columns), read at (x, y), (y, z), (z, x).
CRM_PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (1, 2), (2, 0))


def check_triplane(triplane: Tensor) -> None:
    """Raise ``ValueError`` unless ``triplane`` is ``[B, 3, C, R, R]``."""
    if triplane.dim() != 5 or triplane.shape[1] != 3 or triplane.shape[3] != triplane.shape[4]:
        raise ValueError(f"triplane must be [B, 3, C, R, R], got {list(triplane.shape)}")


def sample_triplane(
    triplane: Tensor,
    points: Tensor,
    bound: float = 1.0,
    plane_axes: Sequence[tuple[int, int]] = PLANE_AXES,
    align_corners: bool = False,
) -> Tensor:
    """Bilinearly sample the three planes at ``points`` and sum the three feature vectors.

    Summing (rather than concatenating) keeps the feature size ``C`` independent of the number of
    planes and makes the features of the three planes interchangeable to the heads, as in EG3D/AToM.

    Args:
        triplane: ``[B, 3, C, R, R]`` feature planes (layout in the module docstring).
        points: ``[B, M, 3]`` world coordinates (same units as ``bound``). Points outside
            ``[-bound, bound]^3`` are clamped onto the cube, so they read the border texels.
        bound: half the edge length of the cube the triplane covers.
        plane_axes: the world axes giving each plane's ``(u, v)``: :data:`PLANE_AXES` (atom) or
            :data:`CRM_PLANE_AXES`.
        align_corners: ``grid_sample``'s texel convention (False: atom; True: CRM).

    Returns:
        ``[B, M, C]`` features, the sum of the three planes' bilinear samples (``xy(p) + xz(p) + yz(p)``).
    """
    check_triplane(triplane)
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be [B, M, 3], got {list(points.shape)}")
    if points.shape[0] != triplane.shape[0]:
        raise ValueError(f"points batch {points.shape[0]} does not match triplane batch {triplane.shape[0]}")
    if bound <= 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    if len(plane_axes) != 3 or any(len(axes) != 2 or not set(axes) <= {0, 1, 2} for axes in plane_axes):
        raise ValueError(f"plane_axes must be three (u, v) pairs of axes 0, 1, 2, got {plane_axes}")
    batch, _, channels, res, _ = triplane.shape
    num_points = points.shape[1]
    normalized = (points / bound).clamp(-1.0, 1.0).to(triplane.dtype)
    # [B, 3, M, 2]: the (u, v) coordinates of every point on every plane.
    grid = torch.stack([normalized[..., list(axes)] for axes in plane_axes], dim=1)
    sampled = F.grid_sample(
        triplane.reshape(batch * 3, channels, res, res),
        grid.reshape(batch * 3, num_points, 1, 2),
        mode="bilinear",
        padding_mode="border",
        align_corners=align_corners,
    )  # [B * 3, C, M, 1]
    return sampled.reshape(batch, 3, channels, num_points).sum(dim=1).transpose(1, 2)
