"""Heads: sphere initialisation, bounded deformation, color range, argument checks."""

import math

import pytest
import torch

from atom.model.heads import ColorHead, DeformationHead, SDFHead, mlp


def test_sdf_head_is_the_sphere_at_init() -> None:
    head = SDFHead(in_channels=8, hidden=16, layers=2, sphere_radius=0.5)
    points = torch.rand(2, 50, 3) * 2 - 1
    sdf = head(torch.randn(2, 50, 8), points)
    torch.testing.assert_close(sdf, points.norm(dim=-1) - 0.5, rtol=0, atol=1e-6)


def test_sdf_head_rejects_mismatched_points() -> None:
    with pytest.raises(ValueError, match="points must be"):
        SDFHead(in_channels=8)(torch.randn(1, 5, 8), torch.randn(1, 4, 3))
    with pytest.raises(ValueError, match=r"features must be \[B, M, 8\]"):
        SDFHead(in_channels=8)(torch.randn(1, 5, 7), torch.randn(1, 5, 3))


def test_deformation_is_zero_at_init_and_bounded_by_fraction_of_cell() -> None:
    head = DeformationHead(in_channels=8, hidden=16, layers=2, max_fraction=0.25)
    features = torch.randn(1, 100, 8)
    assert torch.equal(head(features, cell_size=0.1), torch.zeros(1, 100, 3))
    with torch.no_grad():
        head.net[-1].weight.normal_(std=100.0)
    offsets = head(features, cell_size=0.1)
    assert offsets.abs().max() <= 0.25 * 0.1 + 1e-7
    assert offsets.abs().max() > 0.9 * 0.25 * 0.1  # saturates at the bound, not below it
    torch.testing.assert_close(head(features, cell_size=0.2), 2 * offsets)
    with pytest.raises(ValueError, match="cell_size"):
        head(features, cell_size=0.0)


def test_color_in_unit_range() -> None:
    head = ColorHead(in_channels=8, hidden=16, layers=1)
    rgb = head(100 * torch.randn(3, 40, 8))
    assert rgb.shape == (3, 40, 3)
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_initial_albedo_sets_the_starting_grey_without_drawing_random_numbers() -> None:
    features = torch.randn(2, 500, 8)
    torch.manual_seed(0)
    plain = ColorHead(in_channels=8, hidden=16, layers=1)
    after_plain = torch.rand(1)
    torch.manual_seed(0)
    bright = ColorHead(in_channels=8, hidden=16, layers=1, initial_albedo=0.8)
    assert torch.equal(torch.rand(1), after_plain)  # the same random stream after either head
    # only the last bias differs: logit(0.8) in place of the random bias
    torch.testing.assert_close(bright.net[-1].bias, torch.full((3,), math.log(0.8 / 0.2)))
    assert torch.equal(bright.net[0].weight, plain.net[0].weight)
    with torch.no_grad():
        bright.net[-1].weight.zero_()
    with torch.no_grad():
        torch.testing.assert_close(bright(features), torch.full((2, 500, 3), 0.8))
        assert abs(float(plain(features).mean()) - 0.5) < 0.1


@pytest.mark.parametrize("value, output", [(0.0, "sigmoid"), (1.0, "sigmoid"), (0.8, "affine")])
def test_initial_albedo_refuses_values_outside_the_open_unit_interval_and_the_affine_output(value, output) -> None:
    with pytest.raises(ValueError, match="initial_albedo must be in \\(0, 1\\)"):
        ColorHead(in_channels=8, output=output, initial_albedo=value)


def test_mlp_depth() -> None:
    assert sum(isinstance(m, torch.nn.Linear) for m in mlp(4, 8, 3, 2)) == 4
    with pytest.raises(ValueError, match="layers"):
        mlp(4, 8, -1, 2)
