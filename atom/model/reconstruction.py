"""CRM's reconstruction model (arXiv 2403.05034): six views + six CCMs -> UNet -> triplane -> heads -> mesh.

Input: the 12-channel tile image ``[B, 12, S, 3 S]`` of :func:`atom.render.crm_tiles.crm_unet_input`.

1. Fixed noising, in training and at inference: ``x' = sqrt(abar_t) x + sqrt(1 - abar_t) n`` at timestep
   ``t = 20`` of the Stable Diffusion 2.1 schedule (scaled-linear betas 0.00085 -> 0.012 over 1000 steps;
   ``abar`` is read from diffusers' ``DDIMScheduler``, giving ``x' = 0.99061 x + 0.13670 n``), with noise
   ``n ~ N(0.5, 0.5^2)`` per pixel.
2. ``learned_channels`` zero-initialised learned channels ``[1, L, S, 3 S]`` are appended (after the noise).
3. A diffusers ``UNet2DModel`` (called with timestep ``t``) maps ``12 + L`` channels to ``C`` channels; its
   output ``[B, C, S, 3 S]`` is split along the width into the planes xy, yz, zx -> triplane
   ``[B, 3, C, S, S]``.
4. A point's feature is the SUM of the three planes' bilinear samples at ``(x, y)``, ``(y, z)``, ``(z, x)``
   (``grid_sample``, ``align_corners=True``, border padding; :data:`atom.model.triplane.CRM_PLANE_AXES`).
5. Heads (:mod:`atom.model.heads`): SDF + deformation (one MLP, ``C -> 512 -> 512 -> 4``, ReLU), color
   (``C -> 512 -> 512 -> 3``, ReLU, ``rgb = (c + 1) / 2``) and FlexiCubes weights from the 8 corner
   features of each cube (``8 C -> 512 -> 21``, SiLU, times 0.1).

Conventions converted at the boundary (in the heads): CRM's field ``mlp_0 + 0.5 - |x|`` is positive inside,
atom's ``sdf`` is its negative (negative inside, the sphere of radius 0.5 at initialisation); grid-vertex
offsets are ``tanh(.) * max_deformation * cell_size`` (CRM: ``tanh / 160`` at grid 80, a quarter cell);
color ``(c + 1) / 2``. The mesh comes from FlexiCubes on a ``grid_resolution``-cell voxel grid over
``[-bound, bound]^3``; CRM's raw weights are split beta = ``w[:12]``, alpha = ``w[12:20]``, gamma = ``w[20]``.

A :class:`ReconstructionConfig` fully describes the network (presets ``"crm"``: the released sizes, 114.2M
UNet parameters, 256-px tiles, grid 80; ``"toy"``: small enough to train on a CPU).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from diffusers import DDIMScheduler, UNet2DModel
from torch import Tensor, nn

from atom.geometry.mesh import Mesh
from atom.model.heads import ColorHead, FlexiCubesWeightHead, SDFDeformationHead
from atom.model.pretrained import PretrainedModel, config_from_dict
from atom.model.triplane import CRM_PLANE_AXES, check_triplane, sample_triplane

INPUT_CHANNELS = 12
"""rgb row 1, rgb row 2, ccm row 1, ccm row 2 (3 channels each), as :func:`atom.render.crm_tiles.crm_unet_input`."""
NUM_WEIGHTS = 21


@dataclass(frozen=True)
class ReconstructionConfig:
    """Every size of a :class:`ReconstructionModel`; lengths in world units.

    Attributes:
        tile_size: S, the side of each view tile; the UNet sees ``[B, 12 + learned_channels, S, 3 S]``.
        learned_channels: learned input channels appended to the 12 (CRM: 20).
        triplane_channels: C, the UNet's output channels = the feature size of a point.
        block_out_channels, down_block_types, up_block_types, layers_per_block, attention_head_dim,
            norm_num_groups: the diffusers ``UNet2DModel`` (other arguments at diffusers' defaults).
        head_hidden, head_layers: width and hidden layers of the SDF + deformation and color MLPs.
        weight_hidden: width of the FlexiCubes weight MLP's one hidden layer.
        weight_output_scale: factor on that MLP's output (CRM: 0.1).
        flexicubes_weight_scale: FlexiCubes' normalisation of the raw weights (CRM: 0.5).
        sphere_radius: the SDF prior's sphere.
        max_deformation: bound of the grid-vertex offsets, as a fraction of the cell size.
        grid_resolution: FlexiCubes cells per axis.
        bound: the grid and triplane cover ``[-bound, bound]^3``.
        noise_timestep, noise_mean, noise_std: the fixed input noising.
        beta_start, beta_end, beta_schedule, num_train_timesteps: the diffusion schedule it comes from.
    """

    tile_size: int = 256
    learned_channels: int = 20
    triplane_channels: int = 32
    block_out_channels: tuple[int, ...] = (64, 128, 128, 256, 256, 512, 512)
    down_block_types: tuple[str, ...] = (
        "DownBlock2D",
        "DownBlock2D",
        "DownBlock2D",
        "AttnDownBlock2D",
        "AttnDownBlock2D",
        "AttnDownBlock2D",
        "DownBlock2D",
    )
    up_block_types: tuple[str, ...] = (
        "UpBlock2D",
        "AttnUpBlock2D",
        "AttnUpBlock2D",
        "AttnUpBlock2D",
        "UpBlock2D",
        "UpBlock2D",
        "UpBlock2D",
    )
    layers_per_block: int = 2
    attention_head_dim: int = 8
    norm_num_groups: int = 32
    head_hidden: int = 512
    head_layers: int = 2
    weight_hidden: int = 512
    weight_output_scale: float = 0.1
    flexicubes_weight_scale: float = 0.5
    sphere_radius: float = 0.5
    max_deformation: float = 0.25
    grid_resolution: int = 80
    bound: float = 1.0
    noise_timestep: int = 20
    noise_mean: float = 0.5
    noise_std: float = 0.5
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    num_train_timesteps: int = 1000

    def __post_init__(self) -> None:
        for name in ("block_out_channels", "down_block_types", "up_block_types"):  # JSON gives lists
            object.__setattr__(self, name, tuple(getattr(self, name)))
        blocks = len(self.block_out_channels)
        if len(self.down_block_types) != blocks or len(self.up_block_types) != blocks:
            raise ValueError(
                f"block_out_channels, down_block_types and up_block_types must have one length, got "
                f"{blocks}, {len(self.down_block_types)}, {len(self.up_block_types)}"
            )
        downsampling = 2 ** (blocks - 1)
        if self.tile_size <= 1 or self.tile_size % downsampling:
            raise ValueError(
                f"tile_size must be a multiple of 2^(blocks - 1) = {downsampling} (the UNet halves it "
                f"{blocks - 1} times), got {self.tile_size}"
            )
        if self.learned_channels < 0 or self.triplane_channels < 1 or self.grid_resolution < 1:
            raise ValueError(
                f"need learned_channels >= 0, triplane_channels >= 1, grid_resolution >= 1, got "
                f"{self.learned_channels}, {self.triplane_channels}, {self.grid_resolution}"
            )
        if self.bound <= 0 or not 0 <= self.noise_timestep < self.num_train_timesteps:
            raise ValueError(
                f"need bound > 0 and 0 <= noise_timestep < num_train_timesteps, got bound={self.bound}, "
                f"noise_timestep={self.noise_timestep}, num_train_timesteps={self.num_train_timesteps}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ReconstructionConfig:
        """Build from a mapping; unknown keys raise ``ValueError`` naming them and the accepted ones."""
        return config_from_dict(cls, values)

    @classmethod
    def preset(cls, name: str) -> ReconstructionConfig:
        """``"crm"``: the released model (256-px tiles, grid 80); ``"toy"``: a CPU-trainable size (64-px
        tiles, 16 feature channels, attention only at 16 x 48, grid 32)."""
        if name not in RECONSTRUCTION_PRESETS:
            raise ValueError(f"unknown reconstruction preset {name!r}; accepted: {', '.join(RECONSTRUCTION_PRESETS)}")
        return RECONSTRUCTION_PRESETS[name]

    @property
    def cell_size(self) -> float:
        """Edge length of a FlexiCubes cell, world units."""
        return 2.0 * self.bound / self.grid_resolution


RECONSTRUCTION_PRESETS: dict[str, ReconstructionConfig] = {
    "crm": ReconstructionConfig(),
    "toy": ReconstructionConfig(
        tile_size=64,
        learned_channels=4,
        triplane_channels=16,
        block_out_channels=(16, 32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        head_hidden=64,
        weight_hidden=64,
        grid_resolution=32,
    ),
}


def input_noise_coefficients(config: ReconstructionConfig) -> tuple[float, float]:
    """``(sqrt(abar_t), sqrt(1 - abar_t))`` at ``config.noise_timestep`` of the config's schedule, read from
    diffusers' ``DDIMScheduler`` (CRM loads SD 2.1-base's scheduler: 0.99061, 0.13670 at t = 20)."""
    with torch.device("cpu"):  # the schedule is a handful of numbers, even when a model is built on "meta"
        scheduler = DDIMScheduler(
            num_train_timesteps=config.num_train_timesteps,
            beta_start=config.beta_start,
            beta_end=config.beta_end,
            beta_schedule=config.beta_schedule,
        )
    alpha_bar = float(scheduler.alphas_cumprod[config.noise_timestep])
    return alpha_bar**0.5, (1.0 - alpha_bar) ** 0.5


class VoxelGridLike(Protocol):
    """What :meth:`ReconstructionModel.grid_fields` reads of a grid (:class:`atom.geometry.flexicubes.VoxelGrid`)."""

    vertices: Tensor  # [(N+1)^3, 3] world units
    cubes: Tensor  # [N^3, 8] vertex indices, FlexiCubes corner order
    cell_size: float


@dataclass
class GridFields:
    """The heads on a voxel grid, for one batch of triplanes.

    Attributes:
        sdf: [B, V] signed distance at the grid vertices (negative inside).
        deformation: [B, V, 3] vertex offsets, world units.
        weights: [B, N, 21] raw FlexiCubes weights per cube (beta 0:12, alpha 12:20, gamma 20).
    """

    sdf: Tensor
    deformation: Tensor
    weights: Tensor


def _slices(total: int, size: int) -> list[slice]:
    """``[0, total)`` in consecutive slices of at most ``size`` (bounds the heads' peak memory)."""
    if size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {size}")
    return [slice(start, min(start + size, total)) for start in range(0, total, size)]


class ReconstructionModel(PretrainedModel):
    """CRM's reconstruction network on atom's heads (see the module docstring).

    Build with ``ReconstructionModel(config)`` (a :class:`ReconstructionConfig`, a mapping of its fields, or
    a preset name) and/or keyword overrides of its fields.
    """

    config_class = ReconstructionConfig
    description = "reconstruction model"

    def __init__(
        self, config: ReconstructionConfig | Mapping[str, Any] | str | None = None, **overrides: Any
    ) -> None:
        super().__init__()
        if isinstance(config, str):
            config = ReconstructionConfig.preset(config)
        base = dataclasses.asdict(config) if isinstance(config, ReconstructionConfig) else dict(config or {})
        self.config = ReconstructionConfig.from_dict({**base, **overrides})
        cfg = self.config
        self.unet = UNet2DModel(
            sample_size=(cfg.tile_size, 3 * cfg.tile_size),
            in_channels=INPUT_CHANNELS + cfg.learned_channels,
            out_channels=cfg.triplane_channels,
            layers_per_block=cfg.layers_per_block,
            block_out_channels=cfg.block_out_channels,
            down_block_types=cfg.down_block_types,
            up_block_types=cfg.up_block_types,
            attention_head_dim=cfg.attention_head_dim,
            norm_num_groups=cfg.norm_num_groups,
        )
        self.learned_plane = nn.Parameter(torch.zeros(1, cfg.learned_channels, cfg.tile_size, 3 * cfg.tile_size))
        channels = cfg.triplane_channels
        self.sdf_deformation_head = SDFDeformationHead(
            channels, cfg.head_hidden, cfg.head_layers, "relu", cfg.sphere_radius, cfg.max_deformation
        )
        self.color_head = ColorHead(channels, cfg.head_hidden, cfg.head_layers, activation="relu", output="affine")
        self.weight_head = FlexiCubesWeightHead(channels, cfg.weight_hidden, 1, cfg.weight_output_scale)
        self.noise_coefficients = input_noise_coefficients(cfg)

    # ----------------------------------------------------------------------------------------- front end
    def noisy_input(self, unet_input: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The fixed noising ``sqrt(abar) x + sqrt(1 - abar) n``, ``n ~ N(noise_mean, noise_std^2)``;
        ``unet_input`` ``[B, 12, S, 3 S]`` -> the same shape."""
        self._check_input(unet_input)
        noise = torch.randn(
            unet_input.shape,
            generator=generator,
            dtype=unet_input.dtype,
            device=generator.device if generator is not None else unet_input.device,
        ).to(unet_input.device)
        signal_scale, noise_scale = self.noise_coefficients
        return signal_scale * unet_input + noise_scale * (self.config.noise_mean + self.config.noise_std * noise)

    def forward(self, unet_input: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Tiled views + CCMs ``[B, 12, S, 3 S]`` in [0, 1] -> triplane ``[B, 3, C, S, S]`` (planes xy, yz, zx).

        ``generator`` seeds the input noise (reproducible reconstructions).
        """
        noisy = self.noisy_input(unet_input, generator)
        learned = self.learned_plane.expand(noisy.shape[0], -1, -1, -1).to(noisy.dtype)
        timestep = torch.full((noisy.shape[0],), self.config.noise_timestep, device=noisy.device)
        planes = self.unet(torch.cat([noisy, learned], dim=1), timestep).sample  # [B, C, S, 3 S]
        return self.planes_to_triplane(planes)

    @staticmethod
    def planes_to_triplane(planes: Tensor) -> Tensor:
        """CRM's plane strip ``[B, C, S, 3 S]`` (columns xy | yz | zx) -> triplane ``[B, 3, C, S, S]``."""
        if planes.dim() != 4 or planes.shape[-1] != 3 * planes.shape[-2]:
            raise ValueError(f"planes must be [B, C, S, 3 S], got {list(planes.shape)}")
        return planes.unflatten(-1, (3, planes.shape[-2])).permute(0, 3, 1, 2, 4)

    def _check_input(self, unet_input: Tensor) -> None:
        size = self.config.tile_size
        expected = (INPUT_CHANNELS, size, 3 * size)
        if unet_input.dim() != 4 or tuple(unet_input.shape[1:]) != expected:
            raise ValueError(
                f"unet_input must be [B, {INPUT_CHANNELS}, {size}, {3 * size}] (six views + six CCMs tiled by "
                f"atom.render.crm_tiles.crm_unet_input at tile_size={size}), got {list(unet_input.shape)}"
            )

    # --------------------------------------------------------------------------------------------- heads
    def features(self, triplane: Tensor, points: Tensor) -> Tensor:
        """triplane ``[B, 3, C, S, S]``, points ``[B, M, 3]`` -> summed plane features ``[B, M, C]``."""
        check_triplane(triplane)
        if triplane.shape[2] != self.config.triplane_channels:
            raise ValueError(
                f"triplane has {triplane.shape[2]} channels, the heads expect "
                f"triplane_channels={self.config.triplane_channels}"
            )
        return sample_triplane(triplane, points, self.config.bound, CRM_PLANE_AXES, align_corners=True)

    def sdf_and_deformation(
        self, triplane: Tensor, points: Tensor, cell_size: float | None = None
    ) -> tuple[Tensor, Tensor]:
        """sdf ``[B, M]`` (negative inside) and grid-vertex offsets ``[B, M, 3]`` at points ``[B, M, 3]``
        for a grid of edge ``cell_size`` (default: the config's grid)."""
        return self.sdf_deformation_head(
            self.features(triplane, points), points, cell_size or self.config.cell_size
        )

    def sdf(self, triplane: Tensor, points: Tensor) -> Tensor:
        """Signed distance ``[B, M]`` (negative inside) at points ``[B, M, 3]``."""
        return self.sdf_and_deformation(triplane, points)[0]

    def color(self, triplane: Tensor, points: Tensor) -> Tensor:
        """rgb ``[B, M, 3]`` (``(c + 1) / 2``; in [0, 1] outside training) at points ``[B, M, 3]``."""
        return self.color_head(self.features(triplane, points))

    def grid_fields(self, triplane: Tensor, grid: VoxelGridLike, chunk_size: int = 1 << 16) -> GridFields:
        """SDF, offsets and FlexiCubes weights of a voxel grid for triplanes ``[B, 3, C, S, S]``; the heads run
        ``chunk_size`` vertices (cubes) at a time: at grid 80 with CRM's 512-wide MLPs that bounds an
        activation to about 130 MB."""
        vertices = grid.vertices.to(device=triplane.device, dtype=triplane.dtype)
        if vertices.dim() != 2 or vertices.shape[-1] != 3 or grid.cubes.dim() != 2 or grid.cubes.shape[-1] != 8:
            raise ValueError(
                f"grid must have vertices [V, 3] and cubes [N, 8], got {list(vertices.shape)}, "
                f"{list(grid.cubes.shape)}"
            )
        points = vertices.expand(triplane.shape[0], -1, -1)
        vertex_chunks = _slices(points.shape[1], chunk_size)
        features = torch.cat([self.features(triplane, points[:, part]) for part in vertex_chunks], dim=1)
        sdf, offsets = zip(
            *(self.sdf_deformation_head(features[:, part], points[:, part], grid.cell_size) for part in vertex_chunks)
        )
        cubes = grid.cubes.to(triplane.device).long()
        weights = [self.weight_head(features[:, cubes[part]]) for part in _slices(cubes.shape[0], chunk_size)]
        return GridFields(
            sdf=torch.cat(sdf, dim=1), deformation=torch.cat(offsets, dim=1), weights=torch.cat(weights, dim=1)
        )

    def extract_meshes(self, triplane: Tensor, grid_resolution: int | None = None) -> list[Mesh]:
        """One colored FlexiCubes mesh per triplane of ``[B, 3, C, S, S]`` (vertex colors from the color
        head), on a ``grid_resolution``-cell grid (default: the config's)."""
        from atom.geometry.flexicubes import flexicubes, voxel_grid  # noqa: PLC0415 (lands with the FlexiCubes branch)

        cfg = self.config
        grid = voxel_grid(grid_resolution or cfg.grid_resolution, cfg.bound, device=triplane.device)
        fields = self.grid_fields(triplane, grid)
        meshes = []
        for index in range(triplane.shape[0]):
            weights = fields.weights[index]
            output = flexicubes(
                grid,
                fields.sdf[index],
                weights[:, :12],
                weights[:, 12:20],
                weights[:, 20],
                fields.deformation[index],
                weight_scale=cfg.flexicubes_weight_scale,
                training=self.training,
            )
            mesh = output.mesh
            colors = (
                self.color(triplane[index : index + 1], mesh.vertices[None])[0]
                if mesh.vertices.shape[0]
                else mesh.vertices.new_zeros(0, 3)
            )
            meshes.append(Mesh(mesh.vertices, mesh.faces, colors))
        return meshes

    # ------------------------------------------------------------------------------------------- storage
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part, for per-part learning rates and freezing: keys "front_end" (UNet and learned
        channels), "sdf" (SDF + deformation head), "color", "flexicubes_weights" (FlexiCubes weight head)."""
        return {
            "front_end": [*self.unet.parameters(), self.learned_plane],
            "sdf": list(self.sdf_deformation_head.parameters()),
            "color": list(self.color_head.parameters()),
            "flexicubes_weights": list(self.weight_head.parameters()),
        }
