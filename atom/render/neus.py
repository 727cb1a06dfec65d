"""NeuS volume rendering of an SDF field (Wang et al. 2021), used for the first (low-resolution) stage.

Samples per ray: ``num_samples`` stratified samples between the ray's entry into and exit from the box
[-bound, bound]^3, plus ``num_importance`` samples placed, without gradient, from the NeuS weights of the
coarse samples computed with a fixed sharp ``importance_inv_std`` (NeuS's up-sampling, in one step). All
samples are sorted and the field is evaluated once more, with gradient, at all of them. Sample ``j``
stands for the stretch of ray between the midpoints to its neighbours (the entry and exit points at the
ends), so the stretches tile the ray inside the box exactly.

Opacity per stretch is NeuS's: ``alpha = clamp((Phi(s * prev) - Phi(s * next)) / Phi(s * prev), 0, 1)``,
where ``prev``/``next`` are the SDF at the stretch's ends, estimated from the sample's SDF and the cosine
between the ray and the SDF gradient, and ``Phi`` is the sigmoid. The sharpness is
``s = exp(10 * variance)`` with the learnable scalar ``variance`` initialised to ``init_inv_std``
(NeuS's "variance network"; 0.3 gives s = 20). Rays that miss the box get the background and zero opacity.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from atom.render.cameras import Cameras
from atom.render.field import FieldSamples

IMAGE_KEYS = ("rgb", "opacity", "depth", "normal")


def ray_box_intersection(origins: Tensor, directions: Tensor, bound: float) -> tuple[Tensor, Tensor, Tensor]:
    """Entry and exit distances of rays [..., 3] through the box [-bound, bound]^3.

    Returns:
        near [...], far [...] (near >= 0: a ray starting inside enters at its origin) and hit [...] bool.
    """
    safe = directions.where(directions.abs() > 1e-9, torch.full_like(directions, 1e-9))
    to_low, to_high = (-bound - origins) / safe, (bound - origins) / safe
    near = torch.minimum(to_low, to_high).amax(-1).clamp(min=0.0)
    far = torch.maximum(to_low, to_high).amin(-1)
    return near, far, far > near + 1e-6


def _sample_pdf(bins: Tensor, weights: Tensor, count: int, deterministic: bool) -> Tensor:
    """Inverse-CDF samples [..., count] from the piecewise-constant density ``weights`` [..., K] on
    ``bins`` [..., K + 1]."""
    pdf = (weights + 1e-5) / (weights + 1e-5).sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), pdf.cumsum(-1)], -1)
    if deterministic:
        u = torch.linspace(0.0, 1.0, count + 2, dtype=bins.dtype, device=bins.device)[1:-1]
        u = u.expand(*cdf.shape[:-1], count).contiguous()
    else:
        u = torch.rand(*cdf.shape[:-1], count, dtype=bins.dtype, device=bins.device)
    above = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.shape[-1] - 1)
    below = above - 1
    cdf_below, cdf_above = cdf.gather(-1, below), cdf.gather(-1, above)
    bin_below, bin_above = bins.gather(-1, below), bins.gather(-1, above)
    fraction = (u - cdf_below) / (cdf_above - cdf_below).clamp(min=1e-12)
    return bin_below + fraction * (bin_above - bin_below)


class NeuSRenderer(nn.Module):
    """NeuS renderer with a learnable sharpness.

    Args:
        num_samples: stratified samples per ray.
        num_importance: importance samples per ray (0 disables the coarse pass).
        bound: half-size of the box [-bound, bound]^3 that holds the object.
        init_inv_std: initial value of the learnable ``variance``; sharpness ``s = exp(10 * variance)``.
        importance_inv_std: fixed sharpness used to place the importance samples.
        cos_anneal_ratio: NeuS's cosine annealing in [0, 1] (1 = plain NeuS estimate); AToM's training
            system sets the attribute every step (0 -> 1 over ``stage1.cos_anneal_steps``; 0 steps: always 1).
    """

    def __init__(
        self,
        num_samples: int = 64,
        num_importance: int = 32,
        bound: float = 1.0,
        init_inv_std: float = 0.3,
        importance_inv_std: float = 64.0,
        cos_anneal_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        if num_samples < 2 or num_importance < 0:
            raise ValueError(
                f"need num_samples >= 2 and num_importance >= 0, got {num_samples}, {num_importance}"
            )
        if bound <= 0 or importance_inv_std <= 0:
            raise ValueError(
                f"bound and importance_inv_std must be positive, got {bound}, {importance_inv_std}"
            )
        self.num_samples = num_samples
        self.num_importance = num_importance
        self.bound = bound
        self.importance_inv_std = importance_inv_std
        self.cos_anneal_ratio = cos_anneal_ratio
        self.variance = nn.Parameter(torch.tensor(float(init_inv_std)))

    def inv_std(self) -> Tensor:
        """The sharpness ``s = exp(10 * variance)``, a scalar tensor (clamped to [1e-6, 1e6])."""
        return torch.exp(self.variance * 10.0).clamp(1e-6, 1e6)

    def forward(
        self,
        field: Callable[[Tensor], FieldSamples],
        origins: Tensor,
        directions: Tensor,
        background: Tensor,
        coarse_sdf: Callable[[Tensor], Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Render rays.

        Args:
            field: an :class:`atom.render.field.SDFField`.
            coarse_sdf: optional ``[B, M, 3] -> [B, M]`` SDF-only query for the (no-grad) up-sampling pass, which
                needs no gradient or color; saves the field's gradient stencil there. Default: ``field(...).sdf``.
            origins: [B, N, 3] ray origins, world units.
            directions: [B, N, 3] unit ray directions.
            background: [B, 3] or [3] color behind the object.

        Returns:
            dict with ``rgb`` [B, N, 3] (composited over the background), ``opacity`` [B, N, 1],
            ``depth`` [B, N, 1] (opacity-weighted distance along the ray, 0 where empty), ``normal`` [B, N, 3]
            (weighted sum of unit world normals; its length is about the opacity), ``gradients`` [B, N*K, 3]
            (SDF gradients at all K samples of every ray, for the eikonal loss), ``weights`` [B, N, K],
            ``hit`` [B, N, 1] bool (the ray meets the box).
        """
        if origins.dim() != 3 or origins.shape[-1] != 3 or directions.shape != origins.shape:
            raise ValueError(
                f"origins and directions must both be [B, N, 3], got {list(origins.shape)} "
                f"and {list(directions.shape)}"
            )
        batch, rays = origins.shape[:2]
        background = _background(background, batch).to(origins)
        near, far, hit = ray_box_intersection(origins, directions, self.bound)
        # Rays that miss get a dummy stretch at their origin; their weights are zeroed below.
        far = torch.where(hit, far, near + 1e-3)

        samples = self._stratified(near, far)
        if self.num_importance > 0:
            with torch.no_grad():
                importance = self._importance(coarse_sdf or (lambda p: field(p).sdf), origins, directions, samples)
            samples = torch.sort(torch.cat([samples, importance], -1), dim=-1).values

        count = samples.shape[-1]
        points = self._points(origins, directions, samples)
        values = field(points.view(batch, rays * count, 3))
        sdf = values.sdf.view(batch, rays, count)
        gradient = values.gradient.view(batch, rays, count, 3)
        rgb = values.rgb.view(batch, rays, count, 3)

        cosine = (directions[:, :, None] * gradient).sum(-1)
        # NeuS: anneal from a cosine that never vanishes to the true one; never positive (entering).
        ratio = self.cos_anneal_ratio
        cosine = -(torch.relu(-cosine * 0.5 + 0.5) * (1.0 - ratio) + torch.relu(-cosine) * ratio)
        boundaries = torch.cat(
            [near[..., None], (samples[..., 1:] + samples[..., :-1]) / 2, far[..., None]], -1
        )
        sdf_prev = sdf - cosine * (samples - boundaries[..., :-1])
        sdf_next = sdf + cosine * (boundaries[..., 1:] - samples)
        inv_std = self.inv_std()
        cdf_prev, cdf_next = torch.sigmoid(sdf_prev * inv_std), torch.sigmoid(sdf_next * inv_std)
        alpha = ((cdf_prev - cdf_next + 1e-5) / (cdf_prev + 1e-5)).clamp(0.0, 1.0) * hit[..., None]
        weights = _weights(alpha)

        opacity = weights.sum(-1, keepdim=True)
        unit_normal = torch.nn.functional.normalize(gradient, dim=-1)
        return {
            "rgb": (weights[..., None] * rgb).sum(-2) + (1.0 - opacity) * background,
            "opacity": opacity,
            "depth": (weights * samples).sum(-1, keepdim=True),
            "normal": (weights[..., None] * unit_normal).sum(-2),
            "gradients": values.gradient.view(batch, rays * count, 3),
            "weights": weights,
            "hit": hit[..., None],
        }

    def render_image(
        self,
        field: Callable[[Tensor], FieldSamples],
        cameras: Cameras,
        resolution: int,
        background: Tensor,
        chunk: int = 4096,
    ) -> dict[str, Tensor]:
        """Render full images, ``chunk`` rays per camera at a time.

        Returns:
            dict with ``rgb`` [B, 3, H, W], ``opacity`` [B, 1, H, W], ``depth`` [B, 1, H, W],
            ``normal`` [B, 3, H, W] (as :meth:`forward`) and ``gradients`` [B, M, 3] of all samples.
        """
        if resolution <= 0 or chunk <= 0:
            raise ValueError(f"resolution and chunk must be positive, got {resolution}, {chunk}")
        origins, directions = cameras.rays(resolution, resolution)
        parts = [
            self(field, origins[:, start : start + chunk], directions[:, start : start + chunk], background)
            for start in range(0, origins.shape[1], chunk)
        ]
        batch = len(cameras)
        images = {
            key: torch.cat([part[key] for part in parts], 1)
            .view(batch, resolution, resolution, -1)
            .permute(0, 3, 1, 2)
            for key in IMAGE_KEYS
        }
        images["gradients"] = torch.cat([part["gradients"] for part in parts], 1)
        return images

    def _stratified(self, near: Tensor, far: Tensor) -> Tensor:
        """One sample per equal bin of [near, far]: jittered in training, else at bin centres; [B, N, S]."""
        bins = torch.arange(self.num_samples, dtype=near.dtype, device=near.device)
        offset = (
            torch.rand(*near.shape, self.num_samples, dtype=near.dtype, device=near.device)
            if self.training
            else torch.full_like(bins, 0.5)
        )
        return near[..., None] + (far - near)[..., None] * ((bins + offset) / self.num_samples)

    def _points(self, origins: Tensor, directions: Tensor, samples: Tensor) -> Tensor:
        """Sample points [B, N, K, 3], kept inside the box (only rays that miss it are moved)."""
        points = origins[:, :, None] + directions[:, :, None] * samples[..., None]
        return points.clamp(-self.bound, self.bound)

    def _importance(
        self, sdf_fn: Callable[[Tensor], Tensor], origins: Tensor, directions: Tensor, samples: Tensor
    ) -> Tensor:
        """NeuS up-sampling: [B, N, num_importance] distances from the coarse samples' NeuS weights."""
        batch, rays, count = samples.shape
        points = self._points(origins, directions, samples)
        sdf = sdf_fn(points.view(batch, rays * count, 3)).view(batch, rays, count)
        # Between consecutive samples, estimate the SDF at both ends from the secant slope (the cosine),
        # taking the gentler of this and the previous slope, as NeuS does.
        spacing = samples[..., 1:] - samples[..., :-1]
        middle = (sdf[..., 1:] + sdf[..., :-1]) / 2
        slope = (sdf[..., 1:] - sdf[..., :-1]) / (spacing + 1e-5)
        previous = torch.cat([torch.zeros_like(slope[..., :1]), slope[..., :-1]], -1)
        slope = torch.minimum(slope, previous).clamp(-1e3, 0.0)
        cdf_prev = torch.sigmoid((middle - slope * spacing / 2) * self.importance_inv_std)
        cdf_next = torch.sigmoid((middle + slope * spacing / 2) * self.importance_inv_std)
        alpha = ((cdf_prev - cdf_next + 1e-5) / (cdf_prev + 1e-5)).clamp(0.0, 1.0)
        return _sample_pdf(samples, _weights(alpha), self.num_importance, deterministic=not self.training)


def _weights(alpha: Tensor) -> Tensor:
    """Volume-rendering weights ``alpha_j * prod_{i<j} (1 - alpha_i)`` along the last dimension."""
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha + 1e-7], -1), -1)
    return alpha * transmittance[..., :-1]


def _background(background: Tensor, batch: int) -> Tensor:
    """[3] or [B, 3] -> [B or 1, 1, 3]."""
    if background.shape == (3,):
        return background.view(1, 1, 3)
    if background.shape == (batch, 3):
        return background[:, None]
    raise ValueError(f"background must be [3] or [{batch}, 3], got {list(background.shape)}")
