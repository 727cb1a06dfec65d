"""Clip space -> pixel space, the one mapping that the rasterizer, its antialiasing and the cameras share.

A clip-space vertex ``(x, y, z, w)`` has NDC ``(x / w, y / w, z / w)``; NDC x = -1 is the left image edge,
NDC y = +1 the top edge, and pixel ``(row, col)`` covers ``[col, col + 1] x [row, row + 1]`` in pixel space.
"""

from __future__ import annotations

from torch import Tensor


def pixel_space(clip_vertices: Tensor, height: int, width: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Project clip vertices [..., 4] to pixel space.

    Returns:
        x [...] (columns, 0 = left edge of the image), y [...] (rows, 0 = top edge), NDC z [...], and
        ``in_front`` [...] bool (in front of the near plane: ``w > 0`` and ``z >= -w``). Vertices not in
        front get finite dummy coordinates, so nothing downstream sees inf or NaN.
    """
    x, y, z, w = clip_vertices.unbind(-1)
    in_front = (w > 1e-8) & (z >= -w)
    safe_w = w.where(in_front, 1.0)
    return (x / safe_w + 1.0) * (width / 2), (1.0 - y / safe_w) * (height / 2), z / safe_w, in_front
