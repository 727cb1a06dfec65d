"""Render triangle meshes into the geometry buffers the trainer shades: mask, position, normal, depth.

Batches: ``vertices`` [V, 3] (or [1, V, 3]) is one mesh seen by all B cameras; [B, V, 3] is B meshes of the
SAME topology (``faces``), mesh b seen by camera b. Meshes with different faces (one per prompt) are rendered
by the caller, one ``render_mesh`` call per mesh, and the outputs concatenated along the batch.

Color is not rendered here: the trainer queries its color head at ``position``, shades with
:func:`atom.render.shading.shade`, then composites. Composite with the antialiased ``mask`` (simple), or,
for clean edges, composite with ``hard_mask`` and pass the image through :meth:`MeshRenderOutput.antialias`
(threestudio's order).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor

from atom.geometry.mesh import vertex_normals
from atom.render.cameras import Cameras
from atom.render.fragments import Fragments, Rasterizer


@dataclass
class MeshRenderOutput:
    """Per-pixel buffers of a mesh render, all [B, C, H, W] images.

    Attributes:
        mask: [B, 1, H, W] antialiased coverage in [0, 1]; differentiable w.r.t. the vertices.
        position: [B, 3, H, W] world xyz of the visible surface point; zeros on background.
        normal: [B, 3, H, W] unit world normal (interpolated area-weighted vertex normals); zeros on
            background.
        depth: [B, 1, H, W] camera-space depth (distance along the view axis, world units); zeros on
            background.
        attributes: [B, C, H, W] interpolated per-vertex attributes, or None when none were given.
        triangle_id: [B, H, W] int64 visible face, -1 on background.
        fragments, clip_vertices, faces, rasterizer: what :meth:`antialias` needs.
    """

    mask: Tensor
    position: Tensor
    normal: Tensor
    depth: Tensor
    attributes: Tensor | None
    triangle_id: Tensor
    fragments: Fragments = field(repr=False)
    clip_vertices: Tensor = field(repr=False)
    faces: Tensor = field(repr=False)
    rasterizer: Rasterizer | None = field(repr=False)

    @property
    def hard_mask(self) -> Tensor:
        """[B, 1, H, W] float 0/1 coverage of pixel centres (not differentiable)."""
        return (self.triangle_id >= 0)[:, None].to(self.mask.dtype)

    def antialias(self, image: Tensor) -> Tensor:
        """Antialias an image [B, C, H, W] rendered from these fragments (e.g. color composited with
        ``hard_mask``) across the silhouettes; differentiable w.r.t. the vertices."""
        if self.rasterizer is None:  # empty mesh: nothing to blend
            return image
        blended = self.rasterizer.antialias(
            image.permute(0, 2, 3, 1), self.fragments, self.clip_vertices, self.faces
        )
        return blended.permute(0, 3, 1, 2)


def render_mesh(
    vertices: Tensor,
    faces: Tensor,
    cameras: Cameras,
    resolution: int,
    rasterizer: Rasterizer,
    attributes: Tensor | None = None,
    near: float = 0.1,
    far: float = 10.0,
) -> MeshRenderOutput:
    """Rasterize a mesh from each camera at ``resolution`` x ``resolution``.

    Args:
        vertices: [V, 3], [1, V, 3] (one mesh, all cameras) or [B, V, 3] (mesh b for camera b), world units.
        faces: [F, 3] int64 vertex indices, counter-clockwise seen from outside (no culling is done).
        cameras: B cameras.
        resolution: image height and width in pixels.
        rasterizer: from :func:`atom.render.rasterizer.make_rasterizer`.
        attributes: optional per-vertex values [V, C], [1, V, C] or [B, V, C] to interpolate.
        near, far: clip planes, world units along the view axis.

    Returns:
        :class:`MeshRenderOutput`. An empty mesh (V == 0 or F == 0) gives all-background buffers.
    """
    batch = len(cameras)
    vertices = _batched(vertices, batch, "vertices", 3)
    if attributes is not None:
        attributes = _batched(attributes, batch, "attributes", attributes.shape[-1])
        if attributes.shape[1] != vertices.shape[1]:
            raise ValueError(
                f"attributes must have one row per vertex ({vertices.shape[1]}), got {list(attributes.shape)}"
            )
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be [F, 3], got {list(faces.shape)}")
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    faces = faces.long().to(vertices.device)
    matrix = cameras.world_to_clip(near, far).to(device=vertices.device, dtype=vertices.dtype)
    clip = torch.cat([vertices, torch.ones_like(vertices[..., :1])], -1) @ matrix.transpose(1, 2)
    if vertices.shape[1] == 0 or faces.shape[0] == 0:
        return _empty_output(batch, vertices, faces, clip, resolution, attributes)

    fragments = rasterizer.rasterize(clip, faces, (resolution, resolution))
    if cameras.orthographic:  # clip w is 1: take the view depth from the camera-space z instead
        fragments = _with_view_depth(fragments, vertices, faces, cameras, rasterizer)
    covered = fragments.mask[..., None]
    mask = rasterizer.antialias(covered.to(vertices.dtype), fragments, clip, faces)
    # One interpolation pass for everything per-vertex: the gathers dominate its cost.
    stacked = [vertices, vertex_normals(vertices, faces)] + ([] if attributes is None else [attributes])
    rows = max(value.shape[0] for value in stacked)  # 1 when one mesh is seen by all cameras
    values = rasterizer.interpolate(
        torch.cat([value.expand(rows, -1, -1) for value in stacked], -1), fragments, faces
    )
    normal = torch.nn.functional.normalize(values[..., 3:6], dim=-1, eps=1e-20)
    depth = torch.where(covered, fragments.depth[..., None], torch.zeros_like(fragments.depth[..., None]))
    return MeshRenderOutput(
        mask=_image(mask),
        position=_image(values[..., :3]),
        normal=_image(normal),
        depth=_image(depth),
        attributes=None if attributes is None else _image(values[..., 6:]),
        triangle_id=fragments.triangle_id,
        fragments=fragments,
        clip_vertices=clip,
        faces=faces,
        rasterizer=rasterizer,
    )


def composite(rgb: Tensor, mask: Tensor, background: Tensor) -> Tensor:
    """Alpha-composite ``rgb`` [B, 3, H, W] with coverage ``mask`` [B, 1, H, W] over ``background``
    ([3], [B, 3] or [B, 3, H, W]); returns [B, 3, H, W]."""
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be [B, 3, H, W], got {list(rgb.shape)}")
    if mask.shape != (rgb.shape[0], 1, *rgb.shape[2:]):
        raise ValueError(
            f"mask must be [{rgb.shape[0]}, 1, {rgb.shape[2]}, {rgb.shape[3]}], got {list(mask.shape)}"
        )
    if background.shape == (3,) or background.shape == (rgb.shape[0], 3):
        background = background.reshape(-1, 3, 1, 1)
    elif background.shape != rgb.shape:
        raise ValueError(
            f"background must be [3], [{rgb.shape[0]}, 3] or {list(rgb.shape)}, got {list(background.shape)}"
        )
    return rgb * mask + background.to(rgb) * (1.0 - mask)


def _batched(values: Tensor, batch: int, name: str, channels: int) -> Tensor:
    """[V, C], [1, V, C] or [B, V, C] -> [1 or B, V, C] (one mesh stays unexpanded: less work)."""
    if values.dim() == 2:
        values = values[None]
    if values.dim() != 3 or values.shape[-1] != channels or values.shape[0] not in (1, batch):
        raise ValueError(
            f"{name} must be [V, {channels}], [1, V, {channels}] or [{batch}, V, {channels}] "
            f"(one per camera), got {list(values.shape)}"
        )
    return values


def _with_view_depth(
    fragments: Fragments, vertices: Tensor, faces: Tensor, cameras: Cameras, rasterizer: Rasterizer
) -> Fragments:
    """``fragments`` with ``depth`` = interpolated distance along the view axis (+inf on background).

    Perspective clip ``w`` is that distance already; orthographic clip ``w`` is 1, so the depth that the
    antialiasing compares and that :func:`render_mesh` returns comes from the camera-space z here.
    """
    view = cameras.world_to_camera().to(device=vertices.device, dtype=vertices.dtype)  # [B, 4, 4]
    view_depth = -(vertices @ view[:, 2:3, :3].transpose(1, 2) + view[:, None, 2:3, 3])  # [B, V, 1]
    depth = rasterizer.interpolate(view_depth, fragments, faces)[..., 0]
    depth = torch.where(fragments.mask, depth, torch.full_like(depth, float("inf")))
    return dataclasses.replace(fragments, depth=depth)


def _image(values: Tensor) -> Tensor:
    """[B, H, W, C] -> [B, C, H, W]."""
    return values.permute(0, 3, 1, 2)


def _empty_output(
    batch: int, vertices: Tensor, faces: Tensor, clip: Tensor, resolution: int, attributes: Tensor | None
) -> MeshRenderOutput:
    zeros = vertices.new_zeros(batch, resolution, resolution)
    # Tied to the vertices (times zero) so that a loss on the mask still has a graph to backpropagate.
    mask = (zeros + 0.0 * vertices.sum())[:, None]
    fragments = Fragments(
        triangle_id=torch.full(
            (batch, resolution, resolution), -1, dtype=torch.int64, device=vertices.device
        ),
        barycentrics=vertices.new_zeros(batch, resolution, resolution, 3),
        depth=torch.full_like(zeros, float("inf")),
    )
    return MeshRenderOutput(
        mask=mask,
        position=zeros[:, None].expand(-1, 3, -1, -1),
        normal=zeros[:, None].expand(-1, 3, -1, -1),
        depth=zeros[:, None],
        attributes=None if attributes is None else zeros[:, None].expand(-1, attributes.shape[-1], -1, -1),
        triangle_id=fragments.triangle_id,
        fragments=fragments,
        clip_vertices=clip,
        faces=faces,
        rasterizer=None,
    )
