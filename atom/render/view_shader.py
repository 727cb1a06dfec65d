"""The view shader: per-view shading mode + compositing over the background, written once.

Every image the project renders goes through it: the training stages (NeuS volume renders and rasterized
DMTet meshes), the toy world's prior-data renders and the inference previews. A renderer is a rasterizer (or
the volume renderer) producing per-pixel buffers, followed by this shader (as in pytorch3d:
``MeshRenderer = rasterizer + shader``); so what the trainer shows the diffusion prior is shaded exactly as
the images the toy prior was trained on.

Each view ``i`` has its own mode (``atom.render.SHADING_MODES``) and light ``l_i``:

- albedo: ``c = a``;
- lambertian: ``c = a * (ambient + (1 - ambient) * max(0, n . l_i))``;
- textureless: lambertian with a white albedo.

The shaded color is composited over the background by the coverage ``alpha``:
``out = c * alpha + background * (1 - alpha)``. Buffers from volume rendering are *premultiplied* (albedo
already multiplied by the accumulated opacity); Lambertian shading is linear in the albedo, so shading the
premultiplied albedo gives the premultiplied color, and textureless then shades the coverage itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from atom.render.shading import SHADING_MODES, shade


@dataclass
class ViewShading:
    """How each of N views is shaded: ``modes`` (N names from ``SHADING_MODES``), ``light_directions``
    ``[N, 3]`` towards the light (world space), one ``background`` ``[3]`` in [0, 1] and the ``ambient``
    fraction in [0, 1]."""

    modes: list[str]
    light_directions: Tensor
    background: Tensor
    ambient: float

    def __post_init__(self) -> None:
        unknown = sorted(set(self.modes) - set(SHADING_MODES))
        if unknown:
            raise ValueError(f"unknown shading modes {unknown}; accepted: {', '.join(SHADING_MODES)}")
        if self.light_directions.shape != (len(self.modes), 3):
            raise ValueError(f"light_directions must be [{len(self.modes)}, 3] (one per view), got "
                             f"{list(self.light_directions.shape)}")
        if self.background.shape != (3,):
            raise ValueError(f"background must be [3], got {list(self.background.shape)}")

    def __len__(self) -> int:
        return len(self.modes)

    def __getitem__(self, index: slice) -> ViewShading:
        """The shading of a contiguous range of views."""
        if not isinstance(index, slice):
            raise TypeError(f"ViewShading is indexed by a slice of views, got {type(index).__name__}")
        return ViewShading(self.modes[index], self.light_directions[index], self.background, self.ambient)


def shade_views(albedo: Tensor, normal: Tensor, coverage: Tensor, shading: ViewShading,
                premultiplied: bool = False) -> Tensor:
    """Shade each view with its own mode and light, then composite over the background.

    Args:
        albedo: ``[N, 3, H, W]`` in [0, 1] (premultiplied by ``coverage`` when ``premultiplied``).
        normal: ``[N, 3, H, W]`` unit world normals.
        coverage: ``[N, 1, H, W]`` in [0, 1] (antialiased mask or accumulated opacity).
        shading: the N views' modes, lights, background and ambient.
        premultiplied: see the module docstring (True for volume renders).

    Returns:
        ``[N, 3, H, W]`` (not clamped).
    """
    n = albedo.shape[0]
    if albedo.dim() != 4 or albedo.shape[1] != 3 or normal.shape != albedo.shape:
        raise ValueError(f"albedo and normal must both be [N, 3, H, W], got {list(albedo.shape)} and "
                         f"{list(normal.shape)}")
    if coverage.shape != (n, 1, *albedo.shape[2:]):
        raise ValueError(f"coverage must be [{n}, 1, {albedo.shape[2]}, {albedo.shape[3]}], got "
                         f"{list(coverage.shape)}")
    if len(shading) != n:
        raise ValueError(f"{len(shading)} views' shading for {n} images")
    out = torch.empty_like(albedo)
    albedo_hw, normal_hw = albedo.permute(0, 2, 3, 1), normal.permute(0, 2, 3, 1)
    coverage_hw = coverage.permute(0, 2, 3, 1)
    for mode in set(shading.modes):
        idx = torch.tensor([i for i, m in enumerate(shading.modes) if m == mode], device=albedo.device)
        light = shading.light_directions[idx][:, None, None, :]
        color = albedo_hw[idx]
        if mode == "textureless":
            color = coverage_hw[idx].expand_as(color) if premultiplied else torch.ones_like(color)
            mode = "lambertian"
        shaded = shade(color, normal_hw[idx], light, mode=mode, ambient=shading.ambient)
        if not premultiplied:
            shaded = shaded * coverage_hw[idx]
        out[idx] = shaded.permute(0, 3, 1, 2)
    return out + shading.background.to(albedo)[None, :, None, None] * (1.0 - coverage)
