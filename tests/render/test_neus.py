import math

import pytest
import torch

from atom.render.cameras import look_at
from atom.render.field import FieldSamples, SphereField
from atom.render.neus import NeuSRenderer, ray_box_intersection


def _disc(resolution: int, radius: float, distance: float, fov: float) -> torch.Tensor:
    radius_px = math.tan(math.asin(radius / distance)) / math.tan(math.radians(fov) / 2) * resolution / 2
    centres = torch.arange(resolution, dtype=torch.float64) + 0.5 - resolution / 2
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    return x**2 + y**2 < radius_px**2


def test_sharp_sphere_opacity_matches_the_analytic_disc():
    renderer = NeuSRenderer(init_inv_std=0.7).eval()  # s = exp(7): a sharp surface
    cameras = look_at(torch.tensor([0.0, 35.0]), torch.tensor([0.0, 250.0]), torch.tensor([2.8, 2.5]), 40.0)
    background = torch.tensor([0.0, 0.0, 1.0])
    with torch.no_grad():
        out = renderer.render_image(
            SphereField(radius=0.5, color=(1.0, 0.5, 0.0)), cameras, 64, background, chunk=1500
        )
    assert out["rgb"].shape == (2, 3, 64, 64) and out["normal"].shape == (2, 3, 64, 64)
    assert out["gradients"].shape == (2, 64 * 64 * 96, 3)
    for b, distance in enumerate((2.8, 2.5)):
        disc = _disc(64, 0.5, distance, 40.0)
        mask = out["opacity"][b, 0] > 0.5
        assert (mask & disc).sum() / (mask | disc).sum() >= 0.95
        # Inside: the field's color and the front surface's depth along the ray and normal.
        centre = (slice(None), slice(30, 34), slice(30, 34))
        torch.testing.assert_close(
            out["rgb"][b][centre],
            torch.tensor([1.0, 0.5, 0.0])[:, None, None].expand(3, 4, 4),
            atol=1e-3,
            rtol=0,
        )
        assert out["depth"][b][0, 30:34, 30:34].sub(distance - 0.5).abs().max() < 0.01
        towards_camera = cameras.position()[b] / distance
        assert (out["normal"][b][centre] * towards_camera[:, None, None]).sum(0).min() > 0.99
        # Outside: the background.
        torch.testing.assert_close(out["rgb"][b][:, 0, 0], background, atol=1e-3, rtol=0)


def test_rays_missing_the_box_get_background_and_no_opacity():
    origins = torch.tensor([[[3.0, 0.0, 0.0], [3.0, 2.0, 0.0], [0.0, 0.0, 0.0]]])
    directions = torch.tensor([[[-1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    near, far, hit = ray_box_intersection(origins, directions, 1.0)
    torch.testing.assert_close(near[:, [0, 2]], torch.tensor([[2.0, 0.0]]))  # the third ray starts inside
    torch.testing.assert_close(far[:, [0, 2]], torch.tensor([[4.0, 1.0]]))
    assert hit.tolist() == [[True, False, True]]
    renderer = NeuSRenderer(num_samples=16, num_importance=8)
    out = renderer(SphereField(), origins, directions, torch.tensor([[0.2, 0.4, 0.6]]))
    assert out["opacity"][0, 1, 0] == 0 and out["weights"][0, 1].abs().sum() == 0
    torch.testing.assert_close(out["rgb"][0, 1], torch.tensor([0.2, 0.4, 0.6]))
    assert out["opacity"][0, 0, 0] > 0.5
    # The third ray starts inside the sphere: still finite.
    assert all(torch.isfinite(value).all() for value in out.values() if value.is_floating_point())


class _LearnableSphere(torch.nn.Module):
    """SDF |x| - r with a learnable radius and color, its gradient from autograd."""

    def __init__(self) -> None:
        super().__init__()
        self.radius = torch.nn.Parameter(torch.tensor(0.4))
        self.color = torch.nn.Parameter(torch.tensor([0.3, 0.6, 0.9]))

    def forward(self, points: torch.Tensor) -> FieldSamples:
        with torch.enable_grad():
            points = points.detach().requires_grad_(True) if not points.requires_grad else points
            sdf = points.norm(dim=-1) - self.radius
            (gradient,) = torch.autograd.grad(sdf.sum(), points, create_graph=torch.is_grad_enabled())
        return FieldSamples(sdf=sdf, gradient=gradient, rgb=self.color.expand_as(points))


def test_gradients_reach_the_field_and_the_variance():
    field = _LearnableSphere()
    renderer = NeuSRenderer(num_samples=32, num_importance=16)
    cameras = look_at(torch.tensor([10.0, 200.0]), torch.tensor([30.0, 0.0]), 2.6, 40.0)
    out = renderer.render_image(field, cameras, 16, torch.ones(2, 3))
    target = torch.zeros(2, 1, 16, 16)
    target[..., 4:12, 4:12] = 1.0
    eikonal = ((out["gradients"].norm(dim=-1) - 1) ** 2).mean()
    loss = ((out["opacity"] - target) ** 2).mean() + out["rgb"].mean() + eikonal
    loss.backward()
    for parameter in (field.radius, field.color, renderer.variance):
        assert (
            parameter.grad is not None
            and torch.isfinite(parameter.grad).all()
            and parameter.grad.abs().sum() > 0
        )
    assert eikonal.item() == pytest.approx(0.0, abs=1e-10)
    assert renderer.inv_std().item() == pytest.approx(math.exp(3.0), rel=1e-5)


def test_camera_inside_the_sphere_gives_no_nan():
    field = _LearnableSphere()
    renderer = NeuSRenderer(num_samples=16, num_importance=8)
    out = renderer.render_image(field, look_at(20.0, 10.0, 0.1, 60.0), 8, torch.zeros(3))
    (out["rgb"].sum() + out["depth"].sum() + out["normal"].sum()).backward()
    assert all(torch.isfinite(value).all() for value in out.values())
    assert torch.isfinite(field.radius.grad) and torch.isfinite(renderer.variance.grad)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_samples"):
        NeuSRenderer(num_samples=1)
    with pytest.raises(ValueError, match="background must be"):
        NeuSRenderer()(SphereField(), torch.zeros(1, 2, 3), torch.ones(1, 2, 3), torch.ones(2, 3))
