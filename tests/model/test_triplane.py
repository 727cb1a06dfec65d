"""sample_triplane against planes holding linear functions, which bilinear sampling reproduces exactly."""

import pytest
import torch

from atom.model.triplane import sample_triplane

RES = 8


def texel_centres(res: int, bound: float) -> torch.Tensor:
    return bound * (-1 + (2 * torch.arange(res, dtype=torch.float64) + 1) / res)


def linear_triplane(bound: float) -> torch.Tensor:
    """Channel 0: xy = x, xz = 10 z, yz = 100 y; channel 1: xy = y, xz = 10 x, yz = 100 z.

    Plane layouts: xy [y, x], xz [z, x], yz [z, y] (rows = v, columns = u).
    """
    c = texel_centres(RES, bound)
    rows, cols = c[:, None].expand(RES, RES), c[None, :].expand(RES, RES)
    planes = torch.stack(
        [
            torch.stack([cols, rows]),  # xy: x varies along columns, y along rows
            torch.stack([10 * rows, 10 * cols]),  # xz: z along rows, x along columns
            torch.stack([100 * cols, 100 * rows]),  # yz: y along columns, z along rows
        ]
    )
    return planes.unsqueeze(0)  # [1, 3, 2, R, R]


def expected(points: torch.Tensor, bound: float) -> torch.Tensor:
    c = texel_centres(RES, bound)
    # Outside the outermost texel centres, border padding holds the edge value.
    p = points.clamp(-bound, bound).clamp(c[0].item(), c[-1].item())
    x, y, z = p.unbind(-1)
    return torch.stack([x + 10 * z + 100 * y, y + 10 * x + 100 * z], dim=-1)


@pytest.mark.parametrize("bound", [1.0, 0.7])
def test_sum_of_planes_with_documented_axes(bound: float) -> None:
    points = (torch.rand(1, 200, 3, dtype=torch.float64) * 2 - 1) * bound
    out = sample_triplane(linear_triplane(bound), points, bound)
    assert out.shape == (1, 200, 2)
    torch.testing.assert_close(out, expected(points, bound), rtol=0, atol=1e-9)


def test_points_outside_bound_are_clamped() -> None:
    points = torch.tensor([[[3.0, -2.0, 0.1], [-1.5, 0.2, 9.0]]], dtype=torch.float64)
    out = sample_triplane(linear_triplane(1.0), points)
    torch.testing.assert_close(out, sample_triplane(linear_triplane(1.0), points.clamp(-1, 1)))
    torch.testing.assert_close(out, expected(points, 1.0), rtol=0, atol=1e-9)


def test_batches_are_independent() -> None:
    triplane = torch.randn(2, 3, 4, RES, RES)
    points = torch.rand(2, 10, 3) * 2 - 1
    out = sample_triplane(triplane, points)
    assert out.shape == (2, 10, 4)
    torch.testing.assert_close(out[1:], sample_triplane(triplane[1:], points[1:]))


@pytest.mark.parametrize(
    ("triplane_shape", "points_shape", "message"),
    [
        ((1, 2, 4, 8, 8), (1, 5, 3), "triplane must be"),
        ((1, 3, 4, 8, 4), (1, 5, 3), "triplane must be"),
        ((1, 3, 4, 8, 8), (1, 5, 2), "points must be"),
        ((2, 3, 4, 8, 8), (1, 5, 3), "does not match"),
    ],
)
def test_bad_shapes(triplane_shape: tuple, points_shape: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample_triplane(torch.zeros(triplane_shape), torch.zeros(points_shape))
