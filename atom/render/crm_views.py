"""CRM's six canonical orthographic views (arXiv 2403.05034) and their color + CCM renders.

Order, CRM's (elevation, azimuth) and the image axes of each view (world +Z up, objects in [-1, 1]^3):

======  ==========  ============  ===========  =========  ===============
index   view        CRM (el, az)  image right  image up   camera position
======  ==========  ============  ===========  =========  ===============
0       front       (0, 0)        -X           +Z         +Y
1       left        (0, -90)      +Y           +Z         +X
2       bottom      (-90, 0)      -X           +Y         -Z
3       back        (0, 180)      +X           +Z         -Y
4       right       (0, 90)       -Y           +Z         -X
5       top         (90, 0)       -X           -Y         +Z
======  ==========  ============  ===========  =========  ===============

CRM's front camera sits on +Y; atom's azimuth 0 sits on +X (:mod:`atom.render.cameras`). With atom's axes
(right ``(-sin az, cos az, 0)``, up from the elevation) every row of the table is atom's camera at the same
elevation and azimuth ``az_CRM + 90``, so the views are plain :class:`~atom.render.cameras.Cameras`, made
orthographic with ``ortho_extent = 1``: each image spans exactly ``[-1, 1]`` of its two in-plane axes, edge to
edge (pixel ``c`` of ``S`` is centred at ``-1 + (2 c + 1) / S``). The backgrounds are CRM's grey 127/255.

Checked once (not in the tests: the data is not ours) against the CCMs of CRM's released training example
(``train_examples/``, six 512-px views in this order): on every view the decoded coordinates along the image
right and up axes of this table fit the pixel centres with slope 1.000-1.003 and offset below 0.006 (the 8-bit
CCM step is 0.008), and the visible points lie on the camera's side.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from atom.render.cameras import Cameras, look_at
from atom.render.ccm import CRM_BACKGROUND, ccm_shade
from atom.render.fragments import Rasterizer
from atom.render.mesh_renderer import composite, render_mesh

CRM_VIEW_NAMES: tuple[str, ...] = ("front", "left", "bottom", "back", "right", "top")
CRM_VIEW_ANGLES: tuple[tuple[float, float], ...] = ((0, 0), (0, -90), (-90, 0), (0, 180), (0, 90), (90, 0))
"""CRM's (elevation, azimuth) in degrees per view, in :data:`CRM_VIEW_NAMES` order (CRM's azimuth 0 = +Y)."""
CRM_AZIMUTH_OFFSET = 90.0
"""atom azimuth = CRM azimuth + this (CRM's front is on +Y, atom's on +X)."""
CRM_VIEW_DISTANCE = 3.0
"""Camera distance from the origin (world units); irrelevant to an orthographic image while the object lies
between the clip planes."""


def crm_cameras(
    distance: float = CRM_VIEW_DISTANCE, extent: float = 1.0, device: torch.device | str | None = None
) -> Cameras:
    """The six views as orthographic cameras, in :data:`CRM_VIEW_NAMES` order.

    Args:
        distance: world units from the origin (must exceed the object's reach: 3 clears ``[-1, 1]^3``).
        extent: half the image side in world units (1: the image spans ``[-1, 1]``).
        device: where the camera tensors live.
    """
    elevation = torch.tensor([angle[0] for angle in CRM_VIEW_ANGLES], dtype=torch.float32)
    azimuth = torch.tensor([angle[1] for angle in CRM_VIEW_ANGLES], dtype=torch.float32) + CRM_AZIMUTH_OFFSET
    return look_at(elevation, azimuth, distance, 0.0, ortho_extent=extent).to(device or "cpu")


@dataclass
class CRMViews:
    """Color and CCM renders of the six views, in :data:`CRM_VIEW_NAMES` order.

    Attributes:
        rgb: [6, 3, S, S] color in [0, 1] over the grey background (antialiased edges).
        ccm: [6, 3, S, S] canonical coordinates ``(xyz + 1) / 2`` over the grey background (hard edges).
        mask: [6, 1, S, S] hard coverage, 0/1.
    """

    rgb: Tensor
    ccm: Tensor
    mask: Tensor


def render_crm_views(
    vertices: Tensor,
    faces: Tensor,
    colors: Tensor,
    resolution: int,
    rasterizer: Rasterizer,
    background: float = CRM_BACKGROUND,
) -> CRMViews:
    """Render a mesh's six CRM views: unlit vertex colors (albedo) and CCMs.

    Args:
        vertices: [V, 3] world units, inside ``[-1, 1]^3``.
        faces: [F, 3] int64.
        colors: [V, 3] vertex colors in [0, 1].
        resolution: image side S in pixels.
        rasterizer: from :func:`atom.render.rasterizer.make_rasterizer`.
        background: grey level of the background (CRM: 127/255).
    """
    if colors.shape != vertices.shape:
        raise ValueError(f"colors must be [V, 3] = {list(vertices.shape)}, got {list(colors.shape)}")
    cameras = crm_cameras(device=vertices.device)
    out = render_mesh(vertices, faces, cameras, resolution, rasterizer, attributes=colors)
    grey = torch.full((3,), background, dtype=vertices.dtype, device=vertices.device)
    rgb = composite(out.attributes, out.mask, grey).clamp(0.0, 1.0)
    return CRMViews(rgb=rgb, ccm=ccm_shade(out.position, out.hard_mask, background), mask=out.hard_mask)
