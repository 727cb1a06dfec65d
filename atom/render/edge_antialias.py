"""Silhouette-edge antialiasing in PyTorch, after nvdiffrast's ``antialias`` (Laine et al. 2020).

A hard raster is piecewise constant in the vertex positions, so a mask loss alone cannot move vertices.
Here, for every pair of horizontally or vertically adjacent pixels showing different triangles, the pixel
whose surface is nearer ("front") is followed along the segment to the other pixel's centre. If that
segment leaves the front surface through a silhouette edge (a mesh boundary edge, or an edge between a
front-facing and a back-facing triangle in screen space) at fraction ``t`` of the way, the two pixels'
colors are blended as if each pixel were a unit box along the segment:
``t > 1/2`` pushes ``(t - 1/2)`` of the front color into the other pixel, ``t < 1/2`` pushes ``(1/2 - t)``
of the other color into the front pixel. ``t`` is differentiable in the edge's vertices, which gives the
silhouette gradients. The walk may step across a few non-silhouette edges (into neighbouring triangles)
before it meets the silhouette, so sub-pixel triangles (fine meshes) still antialias.

Only the walk's final ``t`` carries gradient; the search is done without it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atom.render.clip_space import pixel_space


def face_neighbours(faces: Tensor) -> Tensor:
    """The face across each edge, [F, 3] int64.

    Edge ``e`` of face ``f`` joins ``faces[f, e]`` and ``faces[f, (e + 1) % 3]``. The entry is -1 where the
    edge belongs to this face only (a boundary) or to more than two faces (non-manifold: treated as a
    boundary, so it may be a silhouette).
    """
    count = faces.shape[0]
    start, end = faces, faces.roll(-1, dims=1)
    low, high = torch.minimum(start, end), torch.maximum(start, end)
    key = (low * (int(faces.max()) + 1 if count else 1) + high).reshape(-1)
    key, order = key.sort()
    _, group_size = torch.unique_consecutive(key, return_counts=True)
    group_start = group_size.cumsum(0) - group_size
    pairs = group_start[group_size == 2]
    first, second = order[pairs], order[pairs + 1]
    neighbours = torch.full((3 * count,), -1, dtype=torch.int64, device=faces.device)
    neighbours[first] = torch.div(second, 3, rounding_mode="floor")
    neighbours[second] = torch.div(first, 3, rounding_mode="floor")
    return neighbours.view(count, 3)


def _adjacent_pairs(triangle_id: Tensor) -> tuple[Tensor, Tensor]:
    """Flat indices (first, second) of horizontally and vertically adjacent pixels with different ids."""
    batch, height, width = triangle_id.shape
    index = torch.arange(batch * height * width, device=triangle_id.device).view(batch, height, width)
    across = triangle_id[:, :, :-1] != triangle_id[:, :, 1:]
    down = triangle_id[:, :-1, :] != triangle_id[:, 1:, :]
    first = torch.cat([index[:, :, :-1][across], index[:, :-1, :][down]])
    second = torch.cat([index[:, :, 1:][across], index[:, 1:, :][down]])
    return first, second


def _pixel_centres(pixel: Tensor, height: int, width: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    within = pixel % (height * width)
    return (within % width).to(dtype) + 0.5, torch.div(within, width, rounding_mode="floor").to(dtype) + 0.5


def _edge_value(ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor, px: Tensor, py: Tensor) -> Tensor:
    """Signed area of (a, b, p): which side of the line a -> b the point p lies on."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def _find_silhouette_crossings(
    first: Tensor,
    second: Tensor,
    triangle_id: Tensor,
    depth: Tensor,
    x: Tensor,
    y: Tensor,
    in_front: Tensor,
    faces: Tensor,
    neighbours: Tensor,
    max_steps: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Walk from the front pixel of each pair towards the other; without gradient.

    Returns, for the pairs whose walk met a silhouette edge: front pixel, other pixel (flat indices),
    and the edge's two vertex indices.
    """
    batch, height, width = triangle_id.shape
    flat_id, flat_depth = triangle_id.reshape(-1), depth.reshape(-1)
    first_front = flat_depth[first] <= flat_depth[second]  # background has depth +inf
    front = torch.where(first_front, first, second)
    other = torch.where(first_front, second, first)
    image = torch.div(front, height * width, rounding_mode="floor")
    front_x, front_y = _pixel_centres(front, height, width, x.dtype)
    other_x, other_y = _pixel_centres(other, height, width, x.dtype)

    corner_x, corner_y = x[:, faces], y[:, faces]  # [B, F, 3]
    area2 = (corner_x[..., 1] - corner_x[..., 0]) * (corner_y[..., 2] - corner_y[..., 0]) - (
        corner_x[..., 2] - corner_x[..., 0]
    ) * (corner_y[..., 1] - corner_y[..., 0])
    facing = torch.sign(area2)  # [B, F]; 0 for degenerate faces
    valid_face = in_front[:, faces].all(-1)

    pair = torch.arange(front.numel(), device=front.device)
    current = flat_id[front]
    found_pairs, found_edges = [], []
    for _ in range(max_steps):
        if pair.numel() == 0:
            break
        b = image[pair]
        cx, cy = corner_x[b, current], corner_y[b, current]  # [Q, 3]
        nx, ny = cx.roll(-1, dims=1), cy.roll(-1, dims=1)
        sign = facing[b, current][:, None]
        at_front = _edge_value(cx, cy, nx, ny, front_x[pair, None], front_y[pair, None]) * sign
        at_other = _edge_value(cx, cy, nx, ny, other_x[pair, None], other_y[pair, None]) * sign
        leaving = at_front > at_other  # the segment goes from inside to outside of this edge
        crossing = torch.where(
            leaving,
            at_front / torch.where(leaving, at_front - at_other, 1.0),
            torch.full_like(at_front, float("inf")),
        )
        exit_t, exit_edge = crossing.min(dim=1)
        edge_neighbour = neighbours[current, exit_edge]
        safe_neighbour = edge_neighbour.clamp(min=0)
        silhouette = (
            (edge_neighbour < 0) | (facing[b, safe_neighbour] != sign[:, 0]) | ~valid_face[b, safe_neighbour]
        )
        # The walk ends: past the other pixel's centre (the segment ends inside this triangle), or on a
        # face that cannot be walked (degenerate or behind the camera).
        alive = (exit_t < 1.0) & valid_face[b, current] & (sign[:, 0] != 0)
        hit = alive & silhouette
        found_pairs.append(pair[hit])
        found_edges.append(torch.stack([current[hit], exit_edge[hit]], -1))
        step = alive & ~silhouette & (edge_neighbour != flat_id[other[pair]])
        pair, current = pair[step], edge_neighbour[step]

    pair = torch.cat(found_pairs)
    face_edge = torch.cat(found_edges)
    edge_start = faces[face_edge[:, 0], face_edge[:, 1]]
    edge_end = faces[face_edge[:, 0], (face_edge[:, 1] + 1) % 3]
    return front[pair], other[pair], edge_start, edge_end


def edge_antialias(
    image: Tensor,
    triangle_id: Tensor,
    depth: Tensor,
    clip_vertices: Tensor,
    faces: Tensor,
    neighbours: Tensor | None = None,
    max_steps: int = 32,
) -> Tensor:
    """Antialias ``image`` [B, H, W, C] across silhouette edges; differentiable w.r.t. ``clip_vertices``.

    Args:
        image: [B, H, W, C] values to blend (e.g. a coverage mask or shaded colors).
        triangle_id: [B, H, W] int64 visible face per pixel, -1 on background.
        depth: [B, H, W] view depth per pixel, +inf on background (decides which pixel is in front).
        clip_vertices: [B, V, 4] clip-space vertices as rasterized.
        faces: [F, 3] int64.
        neighbours: [F, 3] :func:`face_neighbours` of ``faces``, if already at hand (computed otherwise).
        max_steps: most triangles walked per pixel pair in search of a silhouette edge.

    Returns:
        [B, H, W, C] antialiased image.
    """
    batch, height, width = triangle_id.shape
    if image.shape[:3] != triangle_id.shape:
        raise ValueError(f"image must be [{batch}, {height}, {width}, C], got {list(image.shape)}")
    first, second = _adjacent_pairs(triangle_id)
    if first.numel() == 0 or faces.shape[0] == 0:
        return image
    with torch.no_grad():
        x, y, _, in_front = pixel_space(clip_vertices.detach(), height, width)
        front, other, edge_start, edge_end = _find_silhouette_crossings(
            first,
            second,
            triangle_id,
            depth,
            x,
            y,
            in_front,
            faces,
            face_neighbours(faces) if neighbours is None else neighbours,
            max_steps,
        )
    if front.numel() == 0:
        return image

    # Differentiable crossing fraction t of the silhouette edge along the segment front -> other.
    image_index = torch.div(front, height * width, rounding_mode="floor")
    ends = clip_vertices[image_index[:, None], torch.stack([edge_start, edge_end], -1)]  # [Q, 2, 4]
    end_x, end_y, _, _ = pixel_space(ends, height, width)
    front_x, front_y = _pixel_centres(front, height, width, end_x.dtype)
    other_x, other_y = _pixel_centres(other, height, width, end_x.dtype)
    at_front = _edge_value(end_x[:, 0], end_y[:, 0], end_x[:, 1], end_y[:, 1], front_x, front_y)
    at_other = _edge_value(end_x[:, 0], end_y[:, 0], end_x[:, 1], end_y[:, 1], other_x, other_y)
    denominator = at_front - at_other  # nonzero: the edge crosses the segment, so it is not parallel to it
    denominator = torch.where(denominator.abs() > 1e-12, denominator, torch.full_like(denominator, 1e-12))
    alpha = ((at_front / denominator).clamp(0.0, 1.0) - 0.5)[:, None]

    flat = image.reshape(batch * height * width, -1)
    front_value, other_value = flat[front], flat[other]
    # t > 1/2: the front surface spills into the other pixel; t < 1/2: the other side spills into the front
    # pixel. Both cases add alpha * (front - other) to the pixel that receives.
    target = torch.where(alpha[:, 0] > 0, other, front)
    blended = flat.index_add(0, target, alpha * (front_value - other_value))
    return blended.view_as(image)
