"""Pure-PyTorch triangle rasterizer: the default backend, no compiler and no GPU needed.

Written here rather than taken from a library because the alternatives need a CUDA build (nvdiffrast),
an OpenGL context (moderngl) or a heavy dependency (pytorch3d), and the project must install and train on
plain CPU machines. It works in two halves:

1. Visibility, without gradient. Triangles are projected to pixel space; those that cover no pixel
   centre are dropped at once (most triangles of a fine mesh). The rest are grouped by the power-of-two size
   of their pixel bounding box, and each group tests all its candidate pixel centres in one vectorised,
   chunked pass. The nearest fragment per pixel wins through one ``scatter_reduce('amin')`` on a 64-bit key
   that packs the quantised NDC depth above the triangle index.
2. Barycentrics, with gradient. For the winning triangle of each covered pixel, perspective-correct
   barycentrics are recomputed from the clip-space vertices in closed form (the homogeneous 2D method:
   the weights are orthogonal to ``x_i - px * w_i`` and ``y_i - py * w_i``), so gradients reach the vertices.

Faces with a vertex behind the near plane (clip ``z < -w``, which includes ``w <= 0``) are dropped rather
than clipped: objects live inside [-1, 1]^3 and cameras outside it, so this only matters for a camera
inside the object, where it avoids NaN. Degenerate (zero-area) faces cover nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atom.render.clip_space import pixel_space
from atom.render.edge_antialias import edge_antialias, face_neighbours
from atom.render.fragments import Fragments

EMPTY_KEY = torch.iinfo(torch.int64).max
DEPTH_LEVELS = 2**31 - 2  # quantisation of NDC depth in the packed z-buffer key
INSIDE_TOLERANCE = 1e-5  # barycentric slack, so a pixel centre exactly on a shared edge is never a hole


def check_mesh_inputs(clip_vertices: Tensor, faces: Tensor, resolution: tuple[int, int]) -> tuple[int, int]:
    """Validate rasterizer inputs; returns (height, width)."""
    if clip_vertices.dim() != 3 or clip_vertices.shape[-1] != 4:
        raise ValueError(f"clip_vertices must be [B, V, 4], got {list(clip_vertices.shape)}")
    if not clip_vertices.is_floating_point():
        raise ValueError(f"clip_vertices must be a float tensor, got {clip_vertices.dtype}")
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be [F, 3], got {list(faces.shape)}")
    if faces.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"faces must be int32 or int64, got {faces.dtype}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= clip_vertices.shape[1]):
        raise ValueError(
            f"faces index vertices in [{int(faces.min())}, {int(faces.max())}], but there are "
            f"{clip_vertices.shape[1]} vertices"
        )
    if len(resolution) != 2 or min(resolution) <= 0:
        raise ValueError(f"resolution must be (height, width) with positive entries, got {resolution}")
    return int(resolution[0]), int(resolution[1])


def broadcast_attributes(attributes: Tensor, batch: int) -> Tensor:
    """[B or 1, V, C] -> [B, V, C] (a view), with a clear error for other shapes."""
    if attributes.dim() != 3 or attributes.shape[0] not in (1, batch):
        raise ValueError(f"attributes must be [{batch} or 1, V, C], got {list(attributes.shape)}")
    return attributes.expand(batch, -1, -1)


class TorchRasterizer:
    """Rasterizer in plain PyTorch (CPU or GPU).

    Args:
        chunk_size: candidate (triangle, pixel) pairs tested at once; bounds peak memory (about 100 bytes
            per pair).
        antialias_max_steps: how many triangles the antialiasing step may walk across between two pixel
            centres to find a silhouette edge (sub-pixel triangles need a few).
    """

    def __init__(self, chunk_size: int = 1 << 20, antialias_max_steps: int = 32) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if antialias_max_steps <= 0:
            raise ValueError(f"antialias_max_steps must be positive, got {antialias_max_steps}")
        self.chunk_size = chunk_size
        self.antialias_max_steps = antialias_max_steps
        # (faces, neighbours) of the last antialiased mesh: one mesh is often rendered many times.
        self._topology: tuple[Tensor, Tensor] | None = None

    def rasterize(self, clip_vertices: Tensor, faces: Tensor, resolution: tuple[int, int]) -> Fragments:
        """Visible triangle, barycentrics and depth per pixel; see :class:`Fragments`."""
        height, width = check_mesh_inputs(clip_vertices, faces, resolution)
        batch = clip_vertices.shape[0]
        faces = faces.long()
        with torch.no_grad():
            keys = self._nearest_keys(clip_vertices.detach(), faces, height, width)
        pixel = (keys != EMPTY_KEY).nonzero().squeeze(1)
        triangle = keys[pixel] & 0xFFFFFFFF
        weights, depth = self._barycentrics(clip_vertices, faces, pixel, triangle, height, width)

        count = batch * height * width
        triangle_id = torch.full((count,), -1, dtype=torch.int64, device=clip_vertices.device)
        triangle_id[pixel] = triangle
        barycentrics = clip_vertices.new_zeros(count, 3).index_copy(0, pixel, weights)
        depth_image = clip_vertices.new_full((count,), float("inf")).index_copy(0, pixel, depth)
        return Fragments(
            triangle_id=triangle_id.view(batch, height, width),
            barycentrics=barycentrics.view(batch, height, width, 3),
            depth=depth_image.view(batch, height, width),
        )

    def interpolate(self, attributes: Tensor, fragments: Fragments, faces: Tensor) -> Tensor:
        """Per-vertex ``attributes`` [B or 1, V, C] at each pixel, [B, H, W, C]; zeros on background."""
        batch, height, width = fragments.triangle_id.shape
        attributes = broadcast_attributes(attributes, batch)
        triangle_id = fragments.triangle_id.reshape(-1)
        pixel = (triangle_id >= 0).nonzero().squeeze(1)
        weights = fragments.barycentrics.reshape(-1, 3)[pixel]
        vertex = faces.long()[triangle_id[pixel]]  # [P, 3]
        image_index = torch.div(pixel, height * width, rounding_mode="floor")
        values = (attributes[image_index[:, None], vertex] * weights[..., None]).sum(1)  # [P, C]
        out = attributes.new_zeros(batch * height * width, attributes.shape[-1]).index_copy(0, pixel, values)
        return out.view(batch, height, width, -1)

    def antialias(self, image: Tensor, fragments: Fragments, clip_vertices: Tensor, faces: Tensor) -> Tensor:
        """Silhouette-edge antialiasing (see :func:`atom.render.edge_antialias.edge_antialias`)."""
        faces = faces.long()
        return edge_antialias(
            image,
            fragments.triangle_id,
            fragments.depth,
            clip_vertices,
            faces,
            neighbours=self._neighbours(faces),
            max_steps=self.antialias_max_steps,
        )

    def _neighbours(self, faces: Tensor) -> Tensor:
        """:func:`face_neighbours`, reused while the same faces come back (an equality test is cheap)."""
        if self._topology is None or not (
            self._topology[0].shape == faces.shape
            and self._topology[0].device == faces.device
            and torch.equal(self._topology[0], faces)
        ):
            self._topology = (faces.clone(), face_neighbours(faces))
        return self._topology[1]

    def _nearest_keys(self, clip_vertices: Tensor, faces: Tensor, height: int, width: int) -> Tensor:
        """Packed z-buffer [B*H*W] int64: (quantised NDC depth << 32) | triangle index, EMPTY_KEY if none."""
        batch = clip_vertices.shape[0]
        keys = torch.full(
            (batch * height * width,), EMPTY_KEY, dtype=torch.int64, device=clip_vertices.device
        )
        if faces.shape[0] == 0:
            return keys
        x, y, z, in_front = pixel_space(clip_vertices, height, width)
        tri_x, tri_y, tri_z = x[:, faces], y[:, faces], z[:, faces]  # [B, F, 3]
        area2 = (tri_x[..., 1] - tri_x[..., 0]) * (tri_y[..., 2] - tri_y[..., 0]) - (
            tri_x[..., 2] - tri_x[..., 0]
        ) * (tri_y[..., 1] - tri_y[..., 0])
        # Pixel centres sit at integer + 0.5: the covered column range is [ceil(min - .5), floor(max - .5)].
        # Clamp in float first: faces near the camera plane can have huge pixel coordinates.
        col_lo = torch.ceil(tri_x.amin(-1) - 0.5).clamp(0, width)
        col_hi = torch.floor(tri_x.amax(-1) - 0.5).clamp(-1, width - 1)
        row_lo = torch.ceil(tri_y.amin(-1) - 0.5).clamp(0, height)
        row_hi = torch.floor(tri_y.amax(-1) - 0.5).clamp(-1, height - 1)
        keep = (
            in_front[:, faces].all(-1)
            & (area2.abs() > 1e-12)
            & (col_hi >= col_lo)
            & (row_hi >= row_lo)
            & (tri_z.amin(-1) <= 1.0)
        )
        image_index, face_index = keep.nonzero(as_tuple=True)
        if face_index.numel() == 0:
            return keys
        columns = (col_hi - col_lo + 1)[image_index, face_index].long()
        rows = (row_hi - row_lo + 1)[image_index, face_index].long()
        # Group by power-of-two bounding-box size so each group enumerates a fixed grid of candidates.
        log_cols = torch.ceil(torch.log2(columns.double())).long()
        log_rows = torch.ceil(torch.log2(rows.double())).long()
        group = log_cols * 64 + log_rows
        triangles = (
            tri_x[image_index, face_index],
            tri_y[image_index, face_index],
            tri_z[image_index, face_index],
            area2[image_index, face_index],
        )
        origin = (col_lo[image_index, face_index].long(), row_lo[image_index, face_index].long())
        for value in torch.unique(group).tolist():
            members = (group == value).nonzero().squeeze(1)
            grid_cols, grid_rows = 1 << (value // 64), 1 << (value % 64)
            step = max(1, self.chunk_size // (grid_cols * grid_rows))
            for start in range(0, members.numel(), step):
                chunk = members[start : start + step]
                self._scatter_group(
                    keys,
                    chunk,
                    grid_cols,
                    grid_rows,
                    image_index,
                    face_index,
                    triangles,
                    origin,
                    (columns, rows),
                    height,
                    width,
                )
        return keys

    @staticmethod
    def _scatter_group(
        keys: Tensor,
        chunk: Tensor,
        grid_cols: int,
        grid_rows: int,
        image_index: Tensor,
        face_index: Tensor,
        triangles: tuple[Tensor, Tensor, Tensor, Tensor],
        origin: tuple[Tensor, Tensor],
        extent: tuple[Tensor, Tensor],
        height: int,
        width: int,
    ) -> None:
        """Coverage test of ``chunk`` triangles against a grid_cols x grid_rows window of pixel centres."""
        tri_x, tri_y, tri_z, area2 = (value[chunk] for value in triangles)
        offsets = torch.arange(grid_cols * grid_rows, device=keys.device)
        off_col, off_row = offsets % grid_cols, torch.div(offsets, grid_cols, rounding_mode="floor")
        col = origin[0][chunk, None] + off_col  # [T, K]
        row = origin[1][chunk, None] + off_row
        in_box = (off_col < extent[0][chunk, None]) & (off_row < extent[1][chunk, None])
        px, py = col.to(tri_x.dtype) + 0.5, row.to(tri_x.dtype) + 0.5
        x0, x1, x2 = (tri_x[:, i, None] for i in range(3))
        y0, y1, y2 = (tri_y[:, i, None] for i in range(3))
        # Edge functions relative to an edge's own vertex keep float32 precise for small triangles.
        inv_area = 1.0 / area2[:, None]
        b0 = ((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) * inv_area
        b1 = ((x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)) * inv_area
        b2 = 1.0 - b0 - b1
        inside = in_box & (b0 >= -INSIDE_TOLERANCE) & (b1 >= -INSIDE_TOLERANCE) & (b2 >= -INSIDE_TOLERANCE)
        triangle, candidate = inside.nonzero(as_tuple=True)
        b0, b1, b2 = b0[triangle, candidate], b1[triangle, candidate], b2[triangle, candidate]
        depth = b0 * tri_z[triangle, 0] + b1 * tri_z[triangle, 1] + b2 * tri_z[triangle, 2]  # NDC, affine
        visible = (depth >= -1.0) & (depth <= 1.0)
        triangle, candidate, depth = triangle[visible], candidate[visible], depth[visible]
        members = chunk[triangle]
        pixel = (image_index[members] * height + row[triangle, candidate]) * width + col[triangle, candidate]
        quantised = ((depth.double() + 1.0) * (DEPTH_LEVELS / 2)).long().clamp_(0, DEPTH_LEVELS)
        keys.scatter_reduce_(0, pixel, (quantised << 32) | face_index[members], reduce="amin")

    @staticmethod
    def _barycentrics(
        clip_vertices: Tensor, faces: Tensor, pixel: Tensor, triangle: Tensor, height: int, width: int
    ) -> tuple[Tensor, Tensor]:
        """Differentiable perspective-correct barycentrics [P, 3] and view depth [P] at covered pixels."""
        image_index = torch.div(pixel, height * width, rounding_mode="floor")
        within = pixel - image_index * (height * width)
        row = torch.div(within, width, rounding_mode="floor")
        col = within - row * width
        ndc_x = ((col.to(clip_vertices.dtype) + 0.5) * (2.0 / width) - 1.0)[:, None]
        ndc_y = (1.0 - (row.to(clip_vertices.dtype) + 0.5) * (2.0 / height))[:, None]
        corners = clip_vertices[image_index[:, None], faces[triangle]]  # [P, 3, 4]
        w = corners[..., 3]
        # The weights l satisfy sum l_i (x_i - px w_i) = 0 and sum l_i (y_i - py w_i) = 0: l ~ u x v.
        weights = torch.linalg.cross(corners[..., 0] - ndc_x * w, corners[..., 1] - ndc_y * w, dim=-1)
        total = weights.sum(-1, keepdim=True)
        # The sum is nonzero for every visible face (w > 0, nonzero area); the guard only keeps NaN out.
        total = torch.where(total.abs() > 1e-30, total, torch.full_like(total, 1e-30))
        weights = weights / total
        return weights, (weights * w).sum(-1)
