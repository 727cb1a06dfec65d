"""CRM's two multi-view diffusion stages at toy scale: one image -> six views, six views -> six CCMs.

CRM (arXiv 2403.05034) generates its six orthographic views, then their canonical coordinate maps (CCMs), with
two image-conditioned diffusion models; the reconstruction model (:mod:`atom.model.reconstruction`) turns both
into a mesh. This is one class for both stages, a diffusers ``UNet2DConditionModel`` in pixel space (the toy
tiles are 32 px: no VAE).

Canvas. The six ``[3, T, T]`` images (views or CCMs, :data:`~atom.render.crm_views.CRM_VIEW_NAMES` order) are
tiled into CRM's reconstruction layout by :func:`atom.render.crm_tiles.tile_views`: ``[6, T, 3 T]`` = two rows
of three plane-aligned tiles, stacked along channels. The UNet denoises that canvas, so the six views are one
image whose convolutions and self-attention see all of them (the cross-view consistency CRM gets from its
multi-view attention), and each pixel column of the canvas is a grid column of CRM's triplane.

Conditioning (``c``: the condition image mapped to [-1, 1]):

- stage ``"views"``: ``c`` = the input picture ``[3, S, S]`` (object centred on grey, ``S = input_size``).
  (1) Channel concatenation: ``c`` resized to one tile ``[3, T, T]`` and laid out as if it were each of the
  six views (``tile_views`` of six copies) -> ``[6, T, 3 T]``: every tile holds the whole picture at the
  tile's own scale, turned as that tile's view is turned, so in view space each copy stands upright like the
  picture. A whole-canvas resize would stretch the picture 3x sideways and put a third of it over each tile;
  an unturned copy would stand sideways in most views (measured: a model trained so copies the picture into
  the canvas and its views come out rotated). Upright copies overlap the target where it resembles the
  picture: the picture and every view are centred on the object, the four side views share its up axis (+Z),
  and for the toy data's camera (distance 2.8, fov 40 degrees) the picture spans +-1.02 world units at the
  origin, the orthographic tiles +-1: nearly one scale.
  (2) An image embedding: a small strided conv encoder turns ``c`` (full resolution) into a grid of tokens
  ``[L, D]`` (plus a learned position embedding), read by cross-attention (``encoder_hidden_states``): the
  picture's geometry reaches every canvas position, however far its tile's turn moves it.
- stage ``"ccms"``: ``c`` = the six RGB views tiled, ``[6, T, 3 T]``: concatenated as channels (as CRM does:
  a CCM pixel sits exactly where its view pixel is) and encoded to tokens by the same kind of encoder.

Classifier-free guidance (Ho & Salimans 2022). In training the condition is dropped with some probability
(:mod:`atom.toyworld.train_multiview`); the null condition is ``c = 0`` for the concatenated channels (in
[-1, 1] that is a plain mid-grey image: no object, the CRM background) and a learned null token sequence
``[L, D]`` in place of the encoder's tokens (a zero image run through the encoder would still carry the
encoder's biases; a free parameter lets the model learn what "no picture" means). Sampling uses
``eps_u + s (eps_c - eps_u)`` on the model's output (v or epsilon alike: the guided output is linear in it),
both branches in one batch.

Noise schedule: 1000-step cosine (``squaredcos_cap_v2``) with v-prediction (Salimans & Ho 2022), as the toy
prior (:mod:`atom.toyworld.prior`): with epsilon prediction the clean image at high noise is read as
``(x_t - sqrt(1 - a) eps) / sqrt(a)`` with ``a -> 0``, so a briefly trained model gets the global color of the
grey background and the object wrong; v keeps that well conditioned. Training draws from diffusers'
``DDPMScheduler``, sampling is diffusers' ``DDIMScheduler`` (eta 0, "trailing" timesteps so that the first
step starts at pure noise, ``t = 999``), both built from this config's fields (no scheduler folder: the
config.json describes it). Pixels of the canvas are in [-1, 1]; samples are clipped to it.

Storage: ``save_pretrained`` writes ``config.json`` + ``model.safetensors`` (:mod:`atom.model.pretrained`),
the tensors in ``weights_dtype`` (``"float16"`` halves the bundle); ``from_pretrained`` always returns a
float32 model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from safetensors.torch import save_file
from torch import Tensor, nn

from atom.model.pretrained import WEIGHTS_NAME, PretrainedModel, config_from_dict
from atom.render.crm_tiles import tile_views, untile_views
from atom.render.crm_views import CRM_VIEW_NAMES

STAGES = ("views", "ccms")
PREDICTION_TYPES = ("v_prediction", "epsilon")
WEIGHTS_DTYPES = {"float32": torch.float32, "float16": torch.float16}
NUM_VIEWS = len(CRM_VIEW_NAMES)
CANVAS_CHANNELS = 2 * 3
"""Channels of the tiled canvas of six RGB images: two tile rows of 3 channels (``tile_views``)."""


@dataclass(frozen=True)
class MultiViewDiffusionConfig:
    """Every size of a :class:`MultiViewDiffusionModel` (see the module docstring).

    Attributes:
        stage: ``"views"`` (picture -> six views) or ``"ccms"`` (six views -> six CCMs).
        tile_size: T, the side of each generated view; the UNet's canvas is ``[6, T, 3 T]``.
        input_size: S, the side of the input picture of stage ``"views"`` (unused by ``"ccms"``).
        block_out_channels, down_block_types, up_block_types, layers_per_block, norm_num_groups: the diffusers
            ``UNet2DConditionModel``.
        attention_heads: heads of every attention layer (diffusers' ``attention_head_dim`` argument, which
            ``UNet2DConditionModel`` reads as the number of heads).
        encoder_channels: the condition encoder's stride-2 3x3 convolutions, one per entry (each halves the
            image side): the tokens form a grid ``2^len`` times coarser than the condition image.
        embedding_dim: D, the width of the condition tokens (the UNet's ``cross_attention_dim``).
        num_train_timesteps, beta_schedule, prediction_type: the diffusion schedule (DDPM in training,
            DDIM for sampling).
        num_inference_steps, guidance_scale: :meth:`MultiViewDiffusionModel.sample`'s defaults.
        weights_dtype: ``"float32"`` or ``"float16"``, how ``save_pretrained`` stores the tensors.
    """

    stage: str = "views"
    tile_size: int = 32
    input_size: int = 64
    block_out_channels: tuple[int, ...] = (32, 64, 96)
    down_block_types: tuple[str, ...] = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
    up_block_types: tuple[str, ...] = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")
    layers_per_block: int = 1
    norm_num_groups: int = 16
    attention_heads: int = 4
    encoder_channels: tuple[int, ...] = (32, 64, 64)
    embedding_dim: int = 64
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "v_prediction"
    num_inference_steps: int = 50
    guidance_scale: float = 1.5
    weights_dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("block_out_channels", "down_block_types", "up_block_types", "encoder_channels"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # JSON gives lists
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")
        if self.weights_dtype not in WEIGHTS_DTYPES:
            raise ValueError(f"weights_dtype must be one of {tuple(WEIGHTS_DTYPES)}, got {self.weights_dtype!r}")
        blocks = len(self.block_out_channels)
        if len(self.down_block_types) != blocks or len(self.up_block_types) != blocks:
            raise ValueError(
                f"block_out_channels, down_block_types and up_block_types must have one length, got "
                f"{blocks}, {len(self.down_block_types)}, {len(self.up_block_types)}"
            )
        unet_step = 2 ** (blocks - 1)
        encoder_step = 2 ** len(self.encoder_channels)
        if self.tile_size < 1 or self.tile_size % max(unet_step, encoder_step):
            raise ValueError(
                f"tile_size must be a multiple of {max(unet_step, encoder_step)} (the UNet halves it "
                f"{blocks - 1} times, the condition encoder {len(self.encoder_channels)} times), got {self.tile_size}"
            )
        if self.input_size < 1 or self.input_size % encoder_step:
            raise ValueError(
                f"input_size must be a multiple of {encoder_step} (the condition encoder halves it "
                f"{len(self.encoder_channels)} times), got {self.input_size}"
            )
        if not self.encoder_channels or self.embedding_dim < 1 or self.num_inference_steps < 1:
            raise ValueError(
                f"need encoder_channels non-empty, embedding_dim >= 1, num_inference_steps >= 1, got "
                f"{self.encoder_channels}, {self.embedding_dim}, {self.num_inference_steps}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> MultiViewDiffusionConfig:
        """Build from a mapping; unknown keys raise ``ValueError`` naming them and the accepted ones."""
        return config_from_dict(cls, values)

    @property
    def condition_channels(self) -> int:
        """Channels of the condition image the encoder reads: 3 (the picture) or 6 (the tiled views); the
        concatenated condition always has the canvas' 6 (the picture laid out as six views for "views")."""
        return 3 if self.stage == "views" else CANVAS_CHANNELS

    @property
    def condition_size(self) -> tuple[int, int]:
        """``(H, W)`` of the condition image the encoder reads: ``(S, S)`` or the canvas ``(T, 3 T)``."""
        return (self.input_size, self.input_size) if self.stage == "views" else (self.tile_size, 3 * self.tile_size)

    @property
    def num_tokens(self) -> int:
        """L, the number of condition tokens (the encoder's output grid)."""
        step = 2 ** len(self.encoder_channels)
        height, width = self.condition_size
        return (height // step) * (width // step)


@dataclass
class Condition:
    """A prepared condition, batch B.

    Attributes:
        channels: [B, 6, T, 3 T] concatenated to the noisy canvas.
        tokens: [B, L, D] cross-attention tokens.
    """

    channels: Tensor
    tokens: Tensor


class ConditionEncoder(nn.Module):
    """Condition image ``[B, C, H, W]`` in [-1, 1] -> tokens ``[B, (H / 2^k) (W / 2^k), D]``: k stride-2 3x3
    convolutions (SiLU), a 1x1 projection to D and a learned position embedding per grid cell."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], dim: int, num_tokens: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.SiLU()]
            in_channels = width
        layers.append(nn.Conv2d(in_channels, dim, 1))
        self.net = nn.Sequential(*layers)
        self.position = nn.Parameter(torch.randn(1, num_tokens, dim) * 0.02)

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image).flatten(2).transpose(1, 2) + self.position


class MultiViewDiffusionModel(PretrainedModel):
    """One CRM multi-view diffusion stage (module docstring). Build with a :class:`MultiViewDiffusionConfig`, a
    mapping of its fields, or nothing (the defaults), and/or keyword overrides of its fields."""

    config_class = MultiViewDiffusionConfig
    description = "multi-view diffusion model"

    def __init__(self, config: MultiViewDiffusionConfig | Mapping[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__()
        base = dataclasses.asdict(config) if isinstance(config, MultiViewDiffusionConfig) else dict(config or {})
        self.config = MultiViewDiffusionConfig.from_dict({**base, **overrides})
        cfg = self.config
        self.unet = UNet2DConditionModel(
            sample_size=(cfg.tile_size, 3 * cfg.tile_size),
            in_channels=2 * CANVAS_CHANNELS,  # the noisy canvas and the concatenated condition
            out_channels=CANVAS_CHANNELS,
            block_out_channels=cfg.block_out_channels,
            down_block_types=cfg.down_block_types,
            up_block_types=cfg.up_block_types,
            layers_per_block=cfg.layers_per_block,
            norm_num_groups=cfg.norm_num_groups,
            attention_head_dim=cfg.attention_heads,
            cross_attention_dim=cfg.embedding_dim,
        )
        self.encoder = ConditionEncoder(cfg.condition_channels, cfg.encoder_channels, cfg.embedding_dim, cfg.num_tokens)
        self.null_tokens = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.embedding_dim))

    # ----------------------------------------------------------------------------------------- schedules
    def noise_scheduler(self) -> DDPMScheduler:
        """The training schedule (adds noise, gives v targets), from the config."""
        cfg = self.config
        return DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule,
                             prediction_type=cfg.prediction_type, clip_sample=True, clip_sample_range=1.0)

    def sampler(self) -> DDIMScheduler:
        """A fresh DDIM sampler on the training schedule (its ``set_timesteps`` holds state: one per call)."""
        cfg = self.config
        return DDIMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule,
                             prediction_type=cfg.prediction_type, clip_sample=True, clip_sample_range=1.0,
                             set_alpha_to_one=False, timestep_spacing="trailing")

    # ------------------------------------------------------------------------------------------ canvas
    def to_canvas(self, images: Tensor) -> Tensor:
        """Six images ``[B, 6, 3, T, T]`` in [0, 1] -> the canvas ``[B, 6, T, 3 T]`` in [-1, 1]."""
        self._check_six("images", images)
        return tile_views(images) * 2.0 - 1.0

    @staticmethod
    def from_canvas(canvas: Tensor) -> Tensor:
        """The inverse of :meth:`to_canvas`, clamped: ``[B, 6, T, 3 T]`` -> ``[B, 6, 3, T, T]`` in [0, 1]."""
        return ((untile_views(canvas) + 1.0) / 2.0).clamp(0.0, 1.0)

    def _check_six(self, name: str, images: Tensor) -> None:
        size = self.config.tile_size
        if images.dim() != 5 or tuple(images.shape[1:]) != (NUM_VIEWS, 3, size, size):
            raise ValueError(f"{name} must be [B, {NUM_VIEWS}, 3, {size}, {size}] (views {', '.join(CRM_VIEW_NAMES)}; "
                             f"tile_size {size}), got {list(images.shape)}")

    def _check_condition(self, condition: Tensor) -> None:
        cfg = self.config
        if cfg.stage == "ccms":
            self._check_six("condition (stage 'ccms': the six views)", condition)
        elif condition.dim() != 4 or tuple(condition.shape[1:]) != (3, cfg.input_size, cfg.input_size):
            raise ValueError(f"condition (stage 'views': the input picture) must be [B, 3, {cfg.input_size}, "
                             f"{cfg.input_size}] (input_size {cfg.input_size}), got {list(condition.shape)}")
        if condition.numel() and (float(condition.min()) < 0.0 or float(condition.max()) > 1.0):
            raise ValueError(f"condition values must be in [0, 1], got [{float(condition.min())}, "
                             f"{float(condition.max())}]")

    # --------------------------------------------------------------------------------------- condition
    def encode_condition(self, condition: Tensor, drop: Tensor | None = None) -> Condition:
        """Prepare ``condition`` (``sample``'s, in [0, 1]); rows where ``drop`` [B] (bool) is True get the
        null condition (zero channels, the learned null tokens)."""
        self._check_condition(condition)
        cfg = self.config
        if cfg.stage == "views":
            image = condition * 2.0 - 1.0
            tile = F.interpolate(image, size=(cfg.tile_size, cfg.tile_size), mode="bilinear", antialias=True,
                                 align_corners=False)
            channels = tile_views(tile[:, None].expand(-1, NUM_VIEWS, -1, -1, -1))
        else:
            image = channels = self.to_canvas(condition)
        tokens = self.encoder(image)
        if drop is not None:
            if drop.shape != (condition.shape[0],):
                raise ValueError(f"drop must be [B] = [{condition.shape[0]}], got {list(drop.shape)}")
            keep = (~drop).to(channels.dtype)
            channels = channels * keep[:, None, None, None]
            tokens = torch.where(drop[:, None, None], self.null_tokens.to(tokens.dtype), tokens)
        return Condition(channels, tokens)

    def null_condition(self, batch: int) -> Condition:
        """The unconditional input of classifier-free guidance for ``batch`` rows."""
        cfg = self.config
        channels = torch.zeros(batch, CANVAS_CHANNELS, cfg.tile_size, 3 * cfg.tile_size,
                               device=self.null_tokens.device, dtype=self.null_tokens.dtype)
        return Condition(channels, self.null_tokens.expand(batch, -1, -1))

    # ----------------------------------------------------------------------------------------- denoise
    def forward(self, canvas: Tensor, timestep: Tensor | int, condition: Condition) -> Tensor:
        """The UNet's prediction (v or epsilon, ``config.prediction_type``) for a noisy canvas.

        Args:
            canvas: [B, 6, T, 3 T] noisy canvas.
            timestep: training timestep(s), a scalar or [B].
            condition: from :meth:`encode_condition` or :meth:`null_condition`, batch B.

        Returns:
            [B, 6, T, 3 T].
        """
        size = self.config.tile_size
        if canvas.dim() != 4 or tuple(canvas.shape[1:]) != (CANVAS_CHANNELS, size, 3 * size):
            raise ValueError(f"canvas must be [B, {CANVAS_CHANNELS}, {size}, {3 * size}], got {list(canvas.shape)}")
        if condition.channels.shape[0] != canvas.shape[0]:
            raise ValueError(f"condition batch {condition.channels.shape[0]} != canvas batch {canvas.shape[0]}")
        unet_input = torch.cat([canvas, condition.channels], dim=1)
        return self.unet(unet_input, timestep, encoder_hidden_states=condition.tokens).sample

    def guided_prediction(self, canvas: Tensor, timestep: Tensor | int, condition: Condition,
                          guidance_scale: float) -> Tensor:
        """Classifier-free guidance ``u + s (c - u)`` of the null (u) and the given (c) condition's predictions,
        both in one batch; ``s = 1`` is the conditional prediction, ``s = 0`` the unconditional one."""
        batch = canvas.shape[0]
        null = self.null_condition(batch)
        both = Condition(torch.cat([null.channels, condition.channels]), torch.cat([null.tokens, condition.tokens]))
        unconditional, conditional = self(torch.cat([canvas, canvas]), timestep, both).chunk(2)
        return unconditional + guidance_scale * (conditional - unconditional)

    @torch.no_grad()
    def sample(self, condition: Tensor, *, num_inference_steps: int | None = None,
               guidance_scale: float | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Generate the six images of each condition with DDIM (eta 0) and classifier-free guidance.

        Args:
            condition: stage "views": [B, 3, S, S] RGB in [0, 1], the object centred on CRM grey
                (S = ``config.input_size``); stage "ccms": [B, 6, 3, T, T] the six views in
                :data:`~atom.render.crm_views.CRM_VIEW_NAMES` order, in [0, 1].
            num_inference_steps: DDIM steps (default ``config.num_inference_steps``).
            guidance_scale: s (default ``config.guidance_scale``); 1 is plain conditional sampling.
            generator: draws the initial noise on the CPU (same seed, same samples on any device).

        Returns:
            [B, 6, 3, T, T] in [0, 1], CRM_VIEW_NAMES order: the views on grey ("views") or the CCMs
            ``(xyz + 1) / 2`` with background 127/255 ("ccms"), as :func:`atom.render.crm_views.render_crm_views`.
        """
        cfg = self.config
        steps = cfg.num_inference_steps if num_inference_steps is None else int(num_inference_steps)
        scale = cfg.guidance_scale if guidance_scale is None else float(guidance_scale)
        if steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {steps}")
        parameter = self.null_tokens
        condition = condition.to(parameter.device, parameter.dtype)
        prepared = self.encode_condition(condition)
        batch = condition.shape[0]
        noise = torch.randn(batch, CANVAS_CHANNELS, cfg.tile_size, 3 * cfg.tile_size, generator=generator)
        canvas = noise.to(parameter.device, parameter.dtype)
        sampler = self.sampler()
        sampler.set_timesteps(steps, device=parameter.device)
        for t in sampler.timesteps:
            prediction = self.guided_prediction(canvas, t, prepared, scale)
            canvas = sampler.step(prediction, t, canvas, eta=0.0).prev_sample
        return self.from_canvas(canvas.float())

    # ----------------------------------------------------------------------------------------- storage
    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (tensors in ``config.weights_dtype``) into
        ``directory`` (created); returns it."""
        path = super().save_pretrained(directory)
        dtype = WEIGHTS_DTYPES[self.config.weights_dtype]
        if dtype != torch.float32:
            state = {name: tensor.detach().to(dtype).contiguous() for name, tensor in self.state_dict().items()}
            save_file(state, path / WEIGHTS_NAME, metadata={"format": "pt"})
        return path

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str], device: str | torch.device = "cpu"):
        """Load a folder written by :meth:`save_pretrained` (strict; float32, eval mode, on ``device``).

        Raises:
            FileNotFoundError: ``directory``, its ``config.json`` or its ``model.safetensors`` is missing.
            ValueError: the config is invalid (unknown keys are named) or describes another class, or the
                weights do not match it.
        """
        model = super().from_pretrained(directory, device)
        return model.float()

