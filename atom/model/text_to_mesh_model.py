"""The text-to-mesh model: a front end that maps conditioning to a triplane, plus SDF, deformation and color heads (and,
for FlexiCubes extraction, a weight head).

``TextToMeshModel.forward`` runs the front end once per prompt; the field methods (``sdf``, ``color``,
``deformation``, ``sdf_and_gradient``, ``field``) then query that triplane at any number of points
and never see the conditioning, so another front end (e.g. CRM's images -> UNet -> triplane) can
replace ``front_end`` and reuse everything else. A :class:`TextToMeshConfig` fully describes the
network; ``save_pretrained``/``from_pretrained`` store it as ``config.json`` beside
``model.safetensors`` (diffusers style).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from atom.geometry.extractors import EXTRACTOR_KINDS
from atom.model.heads import ColorHead, DeformationHead, FlexiCubesWeightHead, SDFHead
from atom.model.pretrained import PretrainedModel, config_from_dict
from atom.model.text_to_triplane import TextToTriplane
from atom.model.triplane import check_triplane, sample_triplane
from atom.render.field import FieldSamples

#: the weight head's output scale (CRM's): raw weights start small, near FlexiCubes' defaults
WEIGHT_OUTPUT_SCALE = 0.1


@dataclass(frozen=True)
class TextToMeshConfig:
    """Every size of a :class:`TextToMeshModel`; lengths in world units.

    Attributes:
        text_dim: token embedding size ``D`` of the text encoder.
        query_resolution, hidden_dim, num_blocks, num_heads: the text-to-triplane transformer.
        triplane_resolution, triplane_channels: output triplane ``[3, C, R, R]``.
        head_hidden, head_layers: width and number of hidden layers of each head's MLP.
        sphere_radius: radius of the sphere the SDF starts as.
        max_deformation: bound of the tet-vertex offsets, as a fraction of the grid's cell size.
        initial_albedo: the color head's starting grey level (:class:`~atom.model.heads.ColorHead`); None: 0.5
            on average (the plain sigmoid of a random layer; older checkpoints).
        bound: the triplane covers ``[-bound, bound]^3``.
        normal_eps: step of the central finite differences of ``sdf_and_gradient``; about a third of a
            triplane texel (``2 * bound / R``) at the defaults, so the stencil smooths across texels.
        flexicubes_weight_scale: FlexiCubes' normalisation of the raw weights (``weight_scale`` of
            :func:`atom.geometry.flexicubes.flexicubes`, in [0, 1)).
        extractor: the mesh extractor the model is trained for, "dmtet" or "flexicubes"; "flexicubes" adds the
            weight head (8 corner features of a cube -> its 21 raw FlexiCubes weights). Set by training from
            ``stage2.geometry``, not by ``ModelConfig``; a config without it (older checkpoints) means "dmtet".
    """

    text_dim: int = 384
    query_resolution: int = 8
    hidden_dim: int = 128
    num_blocks: int = 2
    num_heads: int = 4
    triplane_resolution: int = 64
    triplane_channels: int = 32
    head_hidden: int = 64
    head_layers: int = 2
    sphere_radius: float = 0.5
    max_deformation: float = 0.25
    initial_albedo: float | None = None
    bound: float = 1.0
    normal_eps: float = 0.01
    flexicubes_weight_scale: float = 0.5
    extractor: str = "dmtet"

    def __post_init__(self) -> None:
        if self.bound <= 0 or self.normal_eps <= 0:
            raise ValueError(
                f"bound and normal_eps must be > 0, got bound={self.bound}, normal_eps={self.normal_eps}"
            )
        if self.extractor not in EXTRACTOR_KINDS:
            raise ValueError(f"unknown extractor {self.extractor!r}; accepted: {', '.join(EXTRACTOR_KINDS)}")
        if not 0 <= self.flexicubes_weight_scale < 1:
            raise ValueError(f"flexicubes_weight_scale must be in [0, 1), got {self.flexicubes_weight_scale}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TextToMeshConfig:
        """Build from a mapping; unknown keys raise ``ValueError`` naming them and the accepted ones."""
        return config_from_dict(cls, values)


class TextToMeshModel(PretrainedModel):
    """Front end (conditioning -> triplane ``[B, 3, C, R, R]``) + SDF, deformation and color heads.

    Build with ``TextToMeshModel(config)`` (a :class:`TextToMeshConfig` or a mapping of its fields) and/or
    plain keyword arguments overriding fields (``TextToMeshModel(triplane_resolution=32)``, Hydra
    ``_target_``).
    """

    config_class = TextToMeshConfig
    description = "text-to-mesh model"

    def __init__(self, config: TextToMeshConfig | Mapping[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__()
        if isinstance(config, TextToMeshConfig):
            base = dataclasses.asdict(config)
        else:  # a plain or Hydra/OmegaConf mapping, or nothing
            base = dict(config or {})
        self.config = TextToMeshConfig.from_dict({**base, **overrides})
        cfg = self.config
        self.front_end: nn.Module = TextToTriplane(
            text_dim=cfg.text_dim,
            query_resolution=cfg.query_resolution,
            hidden_dim=cfg.hidden_dim,
            num_blocks=cfg.num_blocks,
            num_heads=cfg.num_heads,
            triplane_resolution=cfg.triplane_resolution,
            triplane_channels=cfg.triplane_channels,
        )
        channels = cfg.triplane_channels
        self.sdf_head = SDFHead(channels, cfg.head_hidden, cfg.head_layers, cfg.sphere_radius)
        self.deformation_head = DeformationHead(
            channels, cfg.head_hidden, cfg.head_layers, cfg.max_deformation
        )
        self.color_head = ColorHead(channels, cfg.head_hidden, cfg.head_layers, initial_albedo=cfg.initial_albedo)
        # only with FlexiCubes, so a DMTet model's weights (and older checkpoints) have no weight-head tensors;
        # initialised on a fork of the global RNG, so everything drawn after it (training's SDS noise) is the
        # same with either extractor and same-seed runs differ only from stage 2 on
        self.weight_head: FlexiCubesWeightHead | None = None
        if cfg.extractor == "flexicubes":
            with torch.random.fork_rng(devices=[]):
                self.weight_head = FlexiCubesWeightHead(
                    channels, cfg.head_hidden, cfg.head_layers, WEIGHT_OUTPUT_SCALE, zero_init=True)

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """tokens ``[B, L, text_dim]``, mask ``[B, L]`` (True = real token) -> triplane
        ``[B, 3, C, R, R]``."""
        return self.front_end(tokens, mask)

    def _features(self, triplane: Tensor, points: Tensor) -> Tensor:
        check_triplane(triplane)
        if triplane.shape[2] != self.config.triplane_channels:
            raise ValueError(
                f"triplane has {triplane.shape[2]} channels, the heads expect "
                f"triplane_channels={self.config.triplane_channels}"
            )
        return sample_triplane(triplane, points, self.config.bound)

    def sdf(self, triplane: Tensor, points: Tensor) -> Tensor:
        """triplane ``[B, 3, C, R, R]``, points ``[B, M, 3]`` -> signed distance ``[B, M]``."""
        return self.sdf_head(self._features(triplane, points), points)

    def color(self, triplane: Tensor, points: Tensor) -> Tensor:
        """triplane ``[B, 3, C, R, R]``, points ``[B, M, 3]`` -> rgb ``[B, M, 3]`` in ``[0, 1]``."""
        return self.color_head(self._features(triplane, points))

    def deformation(self, triplane: Tensor, points: Tensor, cell_size: float) -> Tensor:
        """Offsets ``[B, M, 3]`` (world units) of tet-grid vertices ``points [B, M, 3]`` for a grid of edge
        length ``cell_size``; each coordinate is at most ``max_deformation * cell_size``."""
        return self.deformation_head(self._features(triplane, points), cell_size)

    def flexicubes_weights(self, triplane: Tensor, corners: Tensor) -> Tensor:
        """Raw FlexiCubes weights ``[B, N, 21]`` (beta 0:12, alpha 12:20, gamma 20) of N cubes with corner points
        ``corners [B, N, 8, 3]`` (FlexiCubes' corner order), from the corners' triplane features."""
        if self.weight_head is None:
            raise RuntimeError(f"this model has no FlexiCubes weight head (extractor={self.config.extractor!r})")
        if corners.dim() != 4 or corners.shape[2:] != (8, 3):
            raise ValueError(f"corners must be [B, N, 8, 3], got {list(corners.shape)}")
        batch, cubes = corners.shape[:2]
        features = self._features(triplane, corners.reshape(batch, cubes * 8, 3))
        return self.weight_head(features.reshape(batch, cubes, 8, -1))

    def _sdf_stencil(self, triplane: Tensor, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """sdf ``[B, M]``, its central-difference gradient ``[B, M, 3]`` and the features ``[B, M, C]`` at
        ``points``, from one batched evaluation of the 7-point stencil."""
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be [B, M, 3], got {list(points.shape)}")
        eps = self.config.normal_eps
        steps = eps * torch.eye(3, dtype=points.dtype, device=points.device)
        offsets = torch.cat([steps.new_zeros(1, 3), steps, -steps])  # [7, 3]: centre, +xyz, -xyz
        batch, num_points, _ = points.shape
        stencil = (points.unsqueeze(2) + offsets).reshape(batch, num_points * 7, 3)
        features = self._features(triplane, stencil)
        sdf = self.sdf_head(features, stencil).reshape(batch, num_points, 7)
        gradient = (sdf[..., 1:4] - sdf[..., 4:7]) / (2 * eps)
        centre_features = features.reshape(batch, num_points, 7, -1)[:, :, 0]
        return sdf[..., 0], gradient, centre_features

    def sdf_and_gradient(self, triplane: Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
        """sdf ``[B, M]`` and its spatial gradient ``[B, M, 3]`` by central finite differences (step
        ``normal_eps``); the gradient is differentiable w.r.t. the network, so it can feed an eikonal
        loss and shading normals.

        Why not autograd w.r.t. the points: the analytic gradient of bilinear triplane sampling is
        piecewise constant per texel, so an eikonal loss on it is noisy and blind to the next texel; a
        stencil of about a texel smooths it (as in Neuralangelo/threestudio). It also needs no double
        backward through ``grid_sample`` (available only in recent PyTorch) and costs 7 plain forward
        samples, batched.
        """
        sdf, gradient, _ = self._sdf_stencil(triplane, points)
        return sdf, gradient

    def field(self, triplane: Tensor) -> Callable[[Tensor], FieldSamples]:
        """The field of one triplane batch for renderers: ``points [B, M, 3] -> FieldSamples`` with sdf
        ``[B, M]``, finite-difference gradient ``[B, M, 3]`` and rgb ``[B, M, 3]``."""
        check_triplane(triplane)
        return functools.partial(self._field_samples, triplane)

    def _field_samples(self, triplane: Tensor, points: Tensor) -> FieldSamples:
        sdf, gradient, features = self._sdf_stencil(triplane, points)
        return FieldSamples(sdf=sdf, gradient=gradient, rgb=self.color_head(features))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part, for per-part learning rates and freezing: keys "front_end", "sdf",
        "deformation", "color", and "flexicubes_weights" when the model has the weight head."""
        groups = {
            "front_end": list(self.front_end.parameters()),
            "sdf": list(self.sdf_head.parameters()),
            "deformation": list(self.deformation_head.parameters()),
            "color": list(self.color_head.parameters()),
        }
        if self.weight_head is not None:
            groups["flexicubes_weights"] = list(self.weight_head.parameters())
        return groups
