"""TriplaneConv against Rodin's formulation: a 2D conv over each plane concatenated with the two other
planes pooled and broadcast onto it, built here texel by texel."""

import pytest
import torch
import torch.nn.functional as F

from atom.model.triplane_conv import TriplaneConv, pooled_context


def broadcast_context(planes: torch.Tensor) -> torch.Tensor:
    """[1, 3, C, R, R] -> [3, 3C, R, R]: [own, pooled other sharing x/y/z, ...] per texel, by loops.

    Layouts: xy [y, x], xz [z, x], yz [z, y]. Per plane, the first other shares the column axis and
    the second other the row axis.
    """
    _, _, channels, res, _ = planes.shape
    xy, xz, yz = planes[0]
    out = torch.zeros(3, 3 * channels, res, res, dtype=planes.dtype)
    for r in range(res):
        for c in range(res):
            # xy texel (y=r, x=c): xz shares x, yz shares y; both pooled over z.
            out[0, :, r, c] = torch.cat([xy[:, r, c], xz[:, :, c].mean(1), yz[:, :, r].mean(1)])
            # xz texel (z=r, x=c): xy shares x (pool y), yz shares z (pool y).
            out[1, :, r, c] = torch.cat([xz[:, r, c], xy[:, :, c].mean(1), yz[:, r, :].mean(1)])
            # yz texel (z=r, y=c): xy shares y (pool x), xz shares z (pool x).
            out[2, :, r, c] = torch.cat([yz[:, r, c], xy[:, c, :].mean(1), xz[:, r, :].mean(1)])
    return out


def rodin_reference(conv: TriplaneConv, planes: torch.Tensor) -> torch.Tensor:
    """One dense 2D conv per plane over the broadcast context; the broadcast parts are extended
    (replicate) along their constant axis instead of zero-padded, as the module documents."""
    channels, k = conv.in_channels, conv.plane_conv.kernel_size[0]
    p = k // 2
    context = broadcast_context(planes)
    own, u, v = context.split(channels, dim=1)
    own = F.pad(own, (p, p, p, p))
    u = F.pad(F.pad(u, (0, 0, p, p), mode="replicate"), (p, p, 0, 0))  # constant along rows
    v = F.pad(F.pad(v, (p, p, 0, 0), mode="replicate"), (0, 0, p, p))  # constant along columns
    outputs = []
    for plane in range(3):
        rows = slice(plane * conv.out_channels, (plane + 1) * conv.out_channels)
        # A 2D kernel constant along the broadcast axis, summing to the module's 1D kernel.
        u_kernel = (conv.u_conv.weight[rows] / k).unsqueeze(-2).expand(-1, -1, k, -1)
        v_kernel = (conv.v_conv.weight[rows] / k).unsqueeze(-1).expand(-1, -1, -1, k)
        weight = torch.cat([conv.plane_conv.weight[rows], u_kernel, v_kernel], dim=1)
        stacked = torch.cat([own[plane], u[plane], v[plane]]).unsqueeze(0)
        outputs.append(F.conv2d(stacked, weight, conv.plane_conv.bias[rows]))
    return torch.stack(outputs, dim=1)


def test_pooled_context_matches_loop_reference() -> None:
    planes = torch.randn(1, 3, 2, 5, 5, dtype=torch.float64)
    u, v = pooled_context(planes)
    reference = broadcast_context(planes)
    # u is constant along rows, v along columns.
    torch.testing.assert_close(u[0], reference[:, 2:4, 0, :])
    torch.testing.assert_close(v[0], reference[:, 4:6, :, 0])


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_triplane_conv_equals_conv_over_broadcast_planes(kernel_size: int) -> None:
    conv = TriplaneConv(2, 3, kernel_size).double()
    planes = torch.randn(1, 3, 2, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(conv(planes), rodin_reference(conv, planes))


def test_triplane_conv_shape_and_cross_plane_coupling() -> None:
    conv = TriplaneConv(4, 6)
    planes = torch.randn(2, 3, 4, 8, 8)
    out = conv(planes)
    assert out.shape == (2, 3, 6, 8, 8)
    # Changing only the xz plane changes the xy output: the planes really see each other.
    changed = planes.clone()
    changed[:, 1] += torch.randn(4, 8, 8)
    assert not torch.allclose(conv(changed)[:, 0], out[:, 0])


def test_triplane_conv_rejects_wrong_channels_and_even_kernel() -> None:
    with pytest.raises(ValueError, match="4 channels"):
        TriplaneConv(4, 4)(torch.zeros(1, 3, 5, 8, 8))
    with pytest.raises(ValueError, match="odd"):
        TriplaneConv(4, 4, kernel_size=2)
