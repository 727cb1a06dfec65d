"""Orbit cameras looking at the origin, shared by volume rendering, rasterization and the toy world.

Convention (threestudio's): a camera at elevation ``el`` and azimuth ``az`` (degrees) sits at
``distance * (cos(el) cos(az), cos(el) sin(az), sin(el))`` in the right-handed, +Z-up world and looks at
the origin. Azimuth 0 is on +X and sees the object's front. Camera axes follow OpenGL: the camera looks
down its -Z axis, +X is image right, +Y is image up. Images have row 0 at the top; pixel ``(row, col)``
has its centre at NDC ``(x, y) = (2 (col + 0.5) / W - 1, 1 - 2 (row + 0.5) / H)``, so a point projected
with :meth:`Cameras.world_to_clip` and the ray from :meth:`Cameras.rays` meet at the same pixel.

Orthographic cameras are the same type with ``ortho_extent`` set (half the image height in world units):
the position and axes are as above, the projection is ``ndc = (x_cam / (extent * aspect), y_cam / extent)``
with clip ``w = 1``, and every ray of a camera is parallel to its view axis (CRM's six views use them:
:mod:`atom.render.crm_views`).

A camera's view name ("front view", "front-right view") is not a camera property but a diffusion model's:
see `atom.prompts.views.ViewScheme`, the one function from (azimuth, elevation) to a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Cameras:
    """A batch of B orbit cameras; every field is a float tensor of shape [B] on one device.

    Attributes:
        elevation: [B] degrees above the XY plane.
        azimuth: [B] degrees around +Z, 0 = front (+X).
        distance: [B] world units from the origin.
        fov: [B] vertical field of view, degrees (unused by orthographic cameras).
        ortho_extent: None for perspective cameras; for orthographic ones [B] half the image height in world
            units (the image spans ``[-extent * aspect, extent * aspect] x [-extent, extent]`` of the camera's
            right and up axes, edge to edge).
    """

    elevation: Tensor
    azimuth: Tensor
    distance: Tensor
    fov: Tensor
    ortho_extent: Tensor | None = None

    def __post_init__(self) -> None:
        fields = {
            "elevation": self.elevation,
            "azimuth": self.azimuth,
            "distance": self.distance,
            "fov": self.fov,
        }
        if self.ortho_extent is not None:
            fields["ortho_extent"] = self.ortho_extent
        shapes = {name: tuple(value.shape) for name, value in fields.items()}
        if any(len(shape) != 1 for shape in shapes.values()) or len(set(shapes.values())) != 1:
            raise ValueError(f"camera fields must be 1-D tensors of one length [B], got {shapes}")
        devices = {value.device for value in fields.values()}
        if len(devices) != 1:
            raise ValueError(f"camera fields must be on one device, got {sorted(map(str, devices))}")
        if not all(value.is_floating_point() for value in fields.values()):
            raise ValueError(
                f"camera fields must be float tensors, got "
                f"{ {name: value.dtype for name, value in fields.items()} }"
            )
        if self.ortho_extent is not None and not bool((self.ortho_extent > 0).all()):
            raise ValueError(f"ortho_extent must be > 0, got {self.ortho_extent.tolist()}")

    @property
    def orthographic(self) -> bool:
        """True for orthographic cameras (``ortho_extent`` set)."""
        return self.ortho_extent is not None

    def __len__(self) -> int:
        return self.elevation.shape[0]

    @property
    def device(self) -> torch.device:
        return self.elevation.device

    def to(self, device: torch.device | str) -> Cameras:
        return Cameras(
            self.elevation.to(device),
            self.azimuth.to(device),
            self.distance.to(device),
            self.fov.to(device),
            None if self.ortho_extent is None else self.ortho_extent.to(device),
        )

    def __getitem__(self, index: int | slice | Sequence[int] | Tensor) -> Cameras:
        """Select cameras; an int keeps the batch dimension (gives a batch of one)."""
        if isinstance(index, int):
            index = [index]
        extent = None if self.ortho_extent is None else self.ortho_extent[index]
        return Cameras(self.elevation[index], self.azimuth[index], self.distance[index], self.fov[index], extent)

    def position(self) -> Tensor:
        """Camera centres in world coordinates, [B, 3]."""
        el, az = torch.deg2rad(self.elevation), torch.deg2rad(self.azimuth)
        direction = torch.stack(
            [torch.cos(el) * torch.cos(az), torch.cos(el) * torch.sin(az), torch.sin(el)], -1
        )
        return self.distance[:, None] * direction

    def camera_to_world(self) -> Tensor:
        """Camera-to-world rigid transforms, [B, 4, 4], columns = (right, up, backward, position).

        The axes are written in closed form from the angles rather than by cross products with world up,
        so elevation +-90 (looking straight down or up) stays well defined: image right is then the
        azimuth's tangent direction.
        """
        el, az = torch.deg2rad(self.elevation), torch.deg2rad(self.azimuth)
        zero = torch.zeros_like(el)
        backward = torch.stack(
            [torch.cos(el) * torch.cos(az), torch.cos(el) * torch.sin(az), torch.sin(el)], -1
        )
        right = torch.stack([-torch.sin(az), torch.cos(az), zero], -1)
        up = torch.stack([-torch.sin(el) * torch.cos(az), -torch.sin(el) * torch.sin(az), torch.cos(el)], -1)
        matrix = torch.zeros(len(self), 4, 4, dtype=el.dtype, device=el.device)
        matrix[:, :3, 0] = right
        matrix[:, :3, 1] = up
        matrix[:, :3, 2] = backward
        matrix[:, :3, 3] = self.distance[:, None] * backward
        matrix[:, 3, 3] = 1.0
        return matrix

    def world_to_camera(self) -> Tensor:
        """World-to-camera (view) matrices, [B, 4, 4]: the rigid inverse of :meth:`camera_to_world`."""
        c2w = self.camera_to_world()
        rotation_t = c2w[:, :3, :3].transpose(1, 2)
        matrix = torch.zeros_like(c2w)
        matrix[:, :3, :3] = rotation_t
        matrix[:, :3, 3] = -(rotation_t @ c2w[:, :3, 3:4])[..., 0]
        matrix[:, 3, 3] = 1.0
        return matrix

    def projection(self, near: float = 0.1, far: float = 10.0, aspect: float = 1.0) -> Tensor:
        """OpenGL perspective (or, for orthographic cameras, orthographic) matrices, [B, 4, 4];
        ``aspect`` = width / height (1 for square images)."""
        if not 0.0 < near < far:
            raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
        if aspect <= 0.0:
            raise ValueError(f"aspect must be > 0, got {aspect}")
        if self.ortho_extent is not None:
            extent = self.ortho_extent
            matrix = torch.zeros(len(self), 4, 4, dtype=extent.dtype, device=extent.device)
            matrix[:, 0, 0] = 1.0 / (extent * aspect)
            matrix[:, 1, 1] = 1.0 / extent
            matrix[:, 2, 2] = -2.0 / (far - near)
            matrix[:, 2, 3] = -(far + near) / (far - near)
            matrix[:, 3, 3] = 1.0
            return matrix
        focal = 1.0 / torch.tan(torch.deg2rad(self.fov) / 2)
        matrix = torch.zeros(len(self), 4, 4, dtype=focal.dtype, device=focal.device)
        matrix[:, 0, 0] = focal / aspect
        matrix[:, 1, 1] = focal
        matrix[:, 2, 2] = (far + near) / (near - far)
        matrix[:, 2, 3] = 2 * far * near / (near - far)
        matrix[:, 3, 2] = -1.0
        return matrix

    def world_to_clip(self, near: float = 0.1, far: float = 10.0, aspect: float = 1.0) -> Tensor:
        """World-to-clip matrices, [B, 4, 4] (projection @ view); apply as ``clip = M @ [x, y, z, 1]``."""
        return self.projection(near, far, aspect) @ self.world_to_camera()

    def rays(self, height: int, width: int) -> tuple[Tensor, Tensor]:
        """Rays through pixel centres, row-major with row 0 at the top of the image.

        Returns:
            origins [B, H*W, 3] (the camera centre, repeated; for orthographic cameras the pixel centre on
            the plane through the camera centre) and unit directions [B, H*W, 3], world space.
            The horizontal field of view follows from the vertical ``fov`` and the aspect ``width / height``.
        """
        if height <= 0 or width <= 0:
            raise ValueError(f"image size must be positive, got height={height}, width={width}")
        dtype, device = self.elevation.dtype, self.device
        tan_half = torch.tan(torch.deg2rad(self.fov) / 2)  # [B]
        cols = (torch.arange(width, dtype=dtype, device=device) + 0.5) * (2.0 / width) - 1.0
        rows = 1.0 - (torch.arange(height, dtype=dtype, device=device) + 0.5) * (2.0 / height)
        ndc_y, ndc_x = torch.meshgrid(rows, cols, indexing="ij")
        aspect = width / height
        if self.ortho_extent is not None:
            return self._orthographic_rays(ndc_x.reshape(1, -1, 1), ndc_y.reshape(1, -1, 1), aspect)
        camera_dirs = torch.stack(
            [
                ndc_x.reshape(1, -1) * (tan_half[:, None] * aspect),
                ndc_y.reshape(1, -1) * tan_half[:, None],
                -torch.ones(len(self), height * width, dtype=dtype, device=device),
            ],
            -1,
        )  # [B, H*W, 3]
        c2w = self.camera_to_world()
        directions = torch.nn.functional.normalize(camera_dirs @ c2w[:, :3, :3].transpose(1, 2), dim=-1)
        origins = c2w[:, None, :3, 3].expand(-1, height * width, -1)
        return origins, directions

    def _orthographic_rays(self, ndc_x: Tensor, ndc_y: Tensor, aspect: float) -> tuple[Tensor, Tensor]:
        """Parallel rays of orthographic cameras through NDC points ``ndc_x, ndc_y`` [1, N, 1]."""
        c2w = self.camera_to_world()
        right, up, backward, position = (c2w[:, None, :3, column] for column in range(4))  # [B, 1, 3] each
        extent = self.ortho_extent[:, None, None]
        origins = position + ndc_x * (extent * aspect) * right + ndc_y * extent * up
        return origins, (-backward).expand_as(origins)


def look_at(
    elevation: float | Tensor,
    azimuth: float | Tensor,
    distance: float | Tensor,
    fov: float | Tensor,
    ortho_extent: float | Tensor | None = None,
) -> Cameras:
    """Cameras from floats or tensors, broadcast to a common [B] (a float gives B = 1); orthographic when
    ``ortho_extent`` (half the image height, world units) is given."""
    given = (elevation, azimuth, distance, fov) + (() if ortho_extent is None else (ortho_extent,))
    values = [torch.as_tensor(value) for value in given]
    devices = {value.device for value in values if value.device.type != "cpu"}
    device = devices.pop() if devices else torch.device("cpu")
    dtype = next((value.dtype for value in values if value.is_floating_point()), torch.float32)
    values = [value.to(device=device, dtype=dtype).reshape(-1) for value in values]
    try:
        values = torch.broadcast_tensors(*values)
    except RuntimeError as error:
        shapes = [tuple(value.shape) for value in values]
        raise ValueError(
            f"elevation, azimuth, distance, fov (, ortho_extent) must broadcast to [B], got {shapes}"
        ) from error
    return Cameras(*(value.contiguous() for value in values))


def _uniform(
    n: int,
    bounds: tuple[float, float],
    name: str,
    generator: torch.Generator | None,
    device: torch.device | str | None,
) -> Tensor:
    low, high = bounds
    if low > high:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {bounds}")
    sample = torch.rand(n, generator=generator, device=generator.device if generator else device)
    return (low + (high - low) * sample).to(device if device is not None else sample.device)


def sample_cameras(
    n: int,
    elevation_range: tuple[float, float] = (-10.0, 45.0),
    azimuth_range: tuple[float, float] = (-180.0, 180.0),
    distance_range: tuple[float, float] = (2.5, 3.0),
    fov_range: tuple[float, float] = (40.0, 45.0),
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Cameras:
    """n cameras, each parameter uniform in its range (degrees / world units); reproducible with a generator."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    return Cameras(
        elevation=_uniform(n, elevation_range, "elevation_range", generator, device),
        azimuth=_uniform(n, azimuth_range, "azimuth_range", generator, device),
        distance=_uniform(n, distance_range, "distance_range", generator, device),
        fov=_uniform(n, fov_range, "fov_range", generator, device),
    )


def turntable(n: int, elevation: float = 15.0, distance: float = 2.8, fov: float = 40.0) -> Cameras:
    """n cameras evenly spaced in azimuth (0, 360/n, ...), starting at the front."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    azimuth = torch.arange(n, dtype=torch.float32) * (360.0 / n)
    return look_at(elevation, azimuth, distance, fov)
