"""Small MLP heads that turn sampled triplane features ``[B, M, C]`` into fields.

The heads see only features (and, for the SDF prior, the point), never text, so any front end that
produces a triplane can use them. The point is not positional-encoded into the MLPs: bilinear
triplane features already localise the field at the triplane's resolution, and a high-frequency
encoding of xyz would add detail that no prompt controls.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU}
COLOR_OUTPUTS = ("sigmoid", "affine")


def _activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; accepted: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(in_channels: int, hidden: int, layers: int, out_channels: int, activation: str = "silu") -> nn.Sequential:
    """``layers`` hidden ``Linear + activation`` layers of width ``hidden``, then a ``Linear`` to
    ``out_channels``; the linear layers sit at the even indices ``0, 2, ..., 2 * layers``.

    SiLU (the default) rather than ReLU keeps the fields smooth, which finite-difference normals like; CRM's
    released heads use ReLU (``activation="relu"``).
    """
    if layers < 0 or hidden < 1:
        raise ValueError(f"layers must be >= 0 and hidden >= 1, got layers={layers}, hidden={hidden}")
    make_activation = _activation(activation)
    modules: list[nn.Module] = []
    width = in_channels
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), make_activation()]
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
    """Albedo ``rgb = sigmoid(mlp(feature))`` in ``[0, 1]``, or with ``output="affine"`` CRM's
    ``rgb = (mlp(feature) + 1) / 2`` (its network predicts color in ``[-1, 1]``), clamped to ``[0, 1]``
    outside training only (a clamp would stop the gradient of a color loss beyond the range).

    ``initial_albedo`` (sigmoid output only) sets the last layer's bias to ``logit(initial_albedo)``, so the
    untrained head starts near that grey level instead of 0.5 (its weights keep their random init, and no
    random number is drawn for it). Score distillation wants a bright start: a lit prior takes an albedo that is
    too dark for shading and leaves it there, but pulls one that is too light towards the prompt's color
    (bench/RESULTS.md, "Toy64 colors: the SDS target and the albedo's start")."""

    def __init__(
        self,
        in_channels: int = 32,
        hidden: int = 64,
        layers: int = 2,
        activation: str = "silu",
        output: str = "sigmoid",
        initial_albedo: float | None = None,
    ) -> None:
        super().__init__()
        if output not in COLOR_OUTPUTS:
            raise ValueError(f"unknown color output {output!r}; accepted: {', '.join(COLOR_OUTPUTS)}")
        if initial_albedo is not None and (output != "sigmoid" or not 0.0 < initial_albedo < 1.0):
            raise ValueError(f"initial_albedo must be in (0, 1) with the sigmoid output, got {initial_albedo} "
                             f"with output {output!r}")
        self.in_channels = in_channels
        self.output = output
        self.net = mlp(in_channels, hidden, layers, 3, activation)
        if initial_albedo is not None:
            nn.init.constant_(self.net[-1].bias, math.log(initial_albedo / (1.0 - initial_albedo)))

    def forward(self, features: Tensor) -> Tensor:
        """features ``[B, M, C]`` -> rgb ``[B, M, 3]`` (in ``[0, 1]``; see the class docstring)."""
        _check_features(features, self.in_channels)
        raw = self.net(features)
        if self.output == "sigmoid":
            return raw.sigmoid()
        rgb = (raw + 1.0) * 0.5
        return rgb if self.training else rgb.clamp(0.0, 1.0)


class SDFDeformationHead(nn.Module):
    """CRM's joint head: one MLP ``feature -> 4`` gives the signed distance and the grid-vertex offset.

    CRM's field is ``f = mlp_0 + sphere_radius - |x|``, POSITIVE inside; atom's convention (negative inside)
    is applied here, at the boundary: ``sdf = -f = |x| - sphere_radius - mlp_0``, so released weights load
    unchanged. The offset is ``max_fraction * cell_size * tanh(mlp_{1:4})`` (CRM: ``tanh / 160`` at grid
    80, i.e. a quarter of its cell ``2 / 80``). With ``zero_init`` the last layer starts at zero: the field is
    then exactly the sphere of ``sphere_radius`` and the grid undeformed.
    """

    def __init__(
        self,
        in_channels: int = 32,
        hidden: int = 512,
        layers: int = 2,
        activation: str = "relu",
        sphere_radius: float = 0.5,
        max_fraction: float = 0.25,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        if sphere_radius <= 0:
            raise ValueError(f"sphere_radius must be > 0, got {sphere_radius}")
        if not 0 < max_fraction <= 0.5:
            raise ValueError(f"max_fraction must be in (0, 0.5], got {max_fraction}")
        self.in_channels = in_channels
        self.sphere_radius = sphere_radius
        self.max_fraction = max_fraction
        self.net = mlp(in_channels, hidden, layers, 4, activation)
        if zero_init:
            _zero_last_layer(self.net)

    def forward(self, features: Tensor, points: Tensor, cell_size: float) -> tuple[Tensor, Tensor]:
        """features ``[B, M, C]``, points ``[B, M, 3]`` (world units), cell_size (the grid's edge length)
        -> sdf ``[B, M]`` (negative inside) and offsets ``[B, M, 3]`` (world units)."""
        _check_features(features, self.in_channels)
        if points.shape != (*features.shape[:2], 3):
            raise ValueError(
                f"points must be [B, M, 3] = {[*features.shape[:2], 3]}, got {list(points.shape)}"
            )
        if cell_size <= 0:
            raise ValueError(f"cell_size must be > 0, got {cell_size}")
        out = self.net(features)
        sdf = points.norm(dim=-1) - self.sphere_radius - out[..., 0]
        return sdf, self.max_fraction * cell_size * out[..., 1:].tanh()


class FlexiCubesWeightHead(nn.Module):
    """Raw FlexiCubes weights of each cube from its 8 corner features (CRM's weight MLP).

    ``weights = scale * mlp(concat(corner features))``, ``[..., 21]`` = 12 edge (beta), 8 corner (alpha) and
    1 cube (gamma) raw weights, normalised by :func:`atom.geometry.flexicubes.flexicubes`. Corners come in
    FlexiCubes' order (corner k at offset ``(k & 1, (k >> 1) & 1, (k >> 2) & 1)``). CRM: one hidden layer of
    512 (SiLU), ``scale = 0.1``. With ``zero_init`` the last layer starts at zero: every raw weight is 0, i.e.
    FlexiCubes' default weights (AToM's stage 2 starts so from a stage-1 model).
    """

    def __init__(
        self, in_channels: int = 32, hidden: int = 512, layers: int = 1, scale: float = 0.1, zero_init: bool = False
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.scale = scale
        self.net = mlp(8 * in_channels, hidden, layers, 21, "silu")
        if zero_init:
            _zero_last_layer(self.net)

    def forward(self, corner_features: Tensor) -> Tensor:
        """corner_features ``[B, N, 8, C]`` -> raw weights ``[B, N, 21]``."""
        if corner_features.dim() != 4 or corner_features.shape[2:] != (8, self.in_channels):
            raise ValueError(
                f"corner_features must be [B, N, 8, {self.in_channels}], got {list(corner_features.shape)}"
            )
        return self.scale * self.net(corner_features.flatten(2))
