"""Small MLP heads that turn sampled triplane features ``[B, M, C]`` into fields.

The heads see only features (and, for the SDF prior, the point), never text, so any front end that
produces a triplane can use them. The point is not positional-encoded into the MLPs: bilinear
triplane features already localise the field at the triplane's resolution, and a high-frequency
encoding of xyz would add detail that no prompt controls.
"""

from __future__ import annotations

from torch import Tensor, nn


def mlp(in_channels: int, hidden: int, layers: int, out_channels: int) -> nn.Sequential:
    """``layers`` hidden ``Linear + SiLU`` layers of width ``hidden``, then a ``Linear`` to ``out_channels``.

    SiLU rather than ReLU keeps the fields smooth, which finite-difference normals like.
    """
    if layers < 0 or hidden < 1:
        raise ValueError(f"layers must be >= 0 and hidden >= 1, got layers={layers}, hidden={hidden}")
    modules: list[nn.Module] = []
    width = in_channels
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    modules.append(nn.Linear(width, out_channels))
    return nn.Sequential(*modules)


def _zero_last_layer(network: nn.Sequential) -> None:
    nn.init.zeros_(network[-1].weight)
    nn.init.zeros_(network[-1].bias)


def _check_features(features: Tensor, in_channels: int) -> None:
    if features.dim() != 3 or features.shape[-1] != in_channels:
        raise ValueError(f"features must be [B, M, {in_channels}], got {list(features.shape)}")


class SDFHead(nn.Module):
    """Signed distance ``sdf(x) = mlp(feature(x)) + (|x| - sphere_radius)``, negative inside.

    The last layer starts at zero, so at initialisation the field is exactly the sphere of radius
    ``sphere_radius`` (world units) and training starts from a valid surface.
    """

    def __init__(
        self, in_channels: int = 32, hidden: int = 64, layers: int = 2, sphere_radius: float = 0.5
    ) -> None:
        super().__init__()
        if sphere_radius <= 0:
            raise ValueError(f"sphere_radius must be > 0, got {sphere_radius}")
        self.in_channels = in_channels
        self.sphere_radius = sphere_radius
        self.net = mlp(in_channels, hidden, layers, 1)
        _zero_last_layer(self.net)

    def forward(self, features: Tensor, points: Tensor) -> Tensor:
        """features ``[B, M, C]``, points ``[B, M, 3]`` (world units) -> sdf ``[B, M]`` (world units)."""
        _check_features(features, self.in_channels)
        if points.shape != (*features.shape[:2], 3):
            raise ValueError(
                f"points must be [B, M, 3] = {[*features.shape[:2], 3]}, got {list(points.shape)}"
            )
        return self.net(features).squeeze(-1) + points.norm(dim=-1) - self.sphere_radius


class DeformationHead(nn.Module):
    """Offsets of tetrahedral-grid vertices: ``offset = max_fraction * cell_size * tanh(mlp(feature))``.

    ``max_fraction`` bounds each coordinate of the offset as a fraction of the grid's cell size so that
    tetrahedra cannot flip. The last layer starts at zero: the grid starts undeformed.
    """

    def __init__(
        self, in_channels: int = 32, hidden: int = 64, layers: int = 2, max_fraction: float = 0.25
    ) -> None:
        super().__init__()
        if not 0 < max_fraction <= 0.5:
            raise ValueError(f"max_fraction must be in (0, 0.5], got {max_fraction}")
        self.in_channels = in_channels
        self.max_fraction = max_fraction
        self.net = mlp(in_channels, hidden, layers, 3)
        _zero_last_layer(self.net)

    def forward(self, features: Tensor, cell_size: float) -> Tensor:
        """features ``[B, M, C]``, cell_size (world units, the grid's edge length) -> offsets ``[B, M, 3]``
        in world units, each coordinate in ``[-max_fraction * cell_size, max_fraction * cell_size]``."""
        _check_features(features, self.in_channels)
        if cell_size <= 0:
            raise ValueError(f"cell_size must be > 0, got {cell_size}")
        return self.max_fraction * cell_size * self.net(features).tanh()


class ColorHead(nn.Module):
    """Albedo ``rgb = sigmoid(mlp(feature))`` in ``[0, 1]``."""

    def __init__(self, in_channels: int = 32, hidden: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.net = mlp(in_channels, hidden, layers, 3)

    def forward(self, features: Tensor) -> Tensor:
        """features ``[B, M, C]`` -> rgb ``[B, M, 3]`` in ``[0, 1]``."""
        _check_features(features, self.in_channels)
        return self.net(features).sigmoid()
