"""Score distillation sampling (SDS, DreamFusion arXiv 2209.14988) over a frozen diffusers UNet.

The shared algorithm, for images x = encode(renders) (pixels in [-1, 1], or VAE latents):

    x_t     = scheduler.add_noise(x, noise, t)                 # forward diffusion, no graph
    eps_u, eps_c = unet([x_t; x_t], t, [uncond; cond])          # one batched call, under no_grad
    eps_hat = eps_u + s * (eps_c - eps_u)                       # classifier-free guidance, scale s
    grad    = w(t) * (eps_hat - noise)                          # nan/inf -> 0, optionally clamped
    loss    = 0.5 * sum((x - stopgrad(x - grad))**2) / B

so that d loss / d x = grad / B exactly: the UNet is never differentiated, and the gradient reaches
the renders only through `encode` (resize + [0,1]->[-1,1] for pixel models, the VAE encoder for
latent models). For pixel models at native resolution, d loss / d images = 2 * grad / B.

A camera-conditioned UNet (``class_embed_type="projection"`` in its config, `atom.guidance.camera_conditioning`)
also takes the render's camera: ``camera_features`` [B, K] go to both branches as ``class_labels``
(eps_u and eps_c see the same camera; only the text differs). They are required for such a UNet and refused
for any other, since diffusers would ignore them silently.

Subclasses (`PixelSDS`, `LatentSDS`) only say how renders become diffusion inputs.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from atom.guidance.camera_conditioning import camera_feature_dim, camera_features, check_camera_features
from atom.guidance.loading import load_scheduler, load_unet
from atom.guidance.timestep_schedule import WEIGHTINGS, TimestepSchedule, sds_weight

if TYPE_CHECKING:
    from atom.text.encoder import TextEmbeddings

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
PREDICTION_TYPES = ("epsilon", "v_prediction")


@dataclass
class SDSOutput:
    """Result of one score-distillation step.

    Attributes:
        loss: scalar, differentiable w.r.t. the input images; d loss / d x = grad / B.
        timesteps: [B] integer diffusion timesteps used.
        grad: [B, c, h, w] detached SDS gradient w(t) * (eps_hat - noise) in diffusion-input space.
        grad_norm: mean over the batch of the per-sample L2 norm of `grad` (for logging).
    """

    loss: torch.Tensor
    timesteps: torch.Tensor
    grad: torch.Tensor
    grad_norm: float


class ScoreDistillation(nn.Module, abc.ABC):
    """SDS loss from a frozen text-conditioned diffusers UNet (see the module docstring for the maths).

    Args:
        path: local diffusers pipeline folder (`unet/`, `scheduler/`, ...) or a cached hub id.
        guidance_scale: classifier-free guidance scale s (0 = unconditional, 1 = conditional only).
        resolution: side length the renders are resized to before encoding.
        weighting: w(t): "sds" (1 - alpha_bar), "uniform" (1) or "fantasia" (sqrt(alpha_bar)(1 - alpha_bar)).
        t_min, t_max, anneal, final_t_max, anneal_start, anneal_end: the `TimestepSchedule`.
        dtype: "float32", "float16" or "bfloat16" for the frozen networks; applied only on CUDA.
        variant: weights variant to load (e.g. "fp16" for the hub's half-precision files), or None.
        channels_last: channels-last memory format for the frozen networks; applied only on CUDA.
        attention_slicing: compute attention in slices (less memory, a bit slower); only on CUDA.
        xformers: use xformers attention when importable (else PyTorch SDPA, the default); only on CUDA.
        grad_clip: clamp each element of the SDS gradient to [-grad_clip, grad_clip]; None = off.
        use_attention_mask: pass the token mask to the UNet as `encoder_attention_mask`. DeepFloyd IF
            and Stable Diffusion pipelines do not (padding tokens are attended), so leave it off for
            them; turn it on for a prior trained with the mask.
    """

    def __init__(
        self,
        path: str,
        guidance_scale: float,
        resolution: int,
        weighting: str = "sds",
        t_min: float = 0.02,
        t_max: float = 0.98,
        anneal: str = "none",
        final_t_max: float = 0.5,
        anneal_start: float = 0.0,
        anneal_end: float = 1.0,
        dtype: str = "float32",
        variant: str | None = None,
        channels_last: bool = False,
        attention_slicing: bool = False,
        xformers: bool = False,
        grad_clip: float | None = None,
        use_attention_mask: bool = False,
    ) -> None:
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
        if resolution <= 0:
            raise ValueError(f"resolution must be a positive int, got {resolution}")
        if grad_clip is not None and grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or None, got {grad_clip}")
        self.path = str(path)
        self.guidance_scale = float(guidance_scale)
        self.resolution = int(resolution)
        self.weighting = weighting
        self.schedule = TimestepSchedule(t_min, t_max, anneal, final_t_max, anneal_start, anneal_end)
        self.grad_clip = grad_clip
        self.use_attention_mask = use_attention_mask
        self.gpu_dtype = DTYPES[dtype]
        self.variant = variant
        self.channels_last = channels_last
        self.attention_slicing = attention_slicing
        self.xformers = xformers
        self._prepared_device: torch.device | None = None

        # Weights load in float32; half precision is applied when the module first runs on CUDA.
        self.unet = load_unet(self.path, variant=variant)
        self.scheduler = load_scheduler(self.path)
        prediction_type = self.scheduler.config.prediction_type
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"scheduler prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}"
            )
        in_channels, out_channels = self.unet.config.in_channels, self.unet.config.out_channels
        if out_channels not in (in_channels, 2 * in_channels):
            raise ValueError(
                f"UNet out_channels must be in_channels ({in_channels}, eps) or twice that (eps + learned "
                f"variance, as DeepFloyd IF), got {out_channels} in '{self.path}'"
            )
        self.register_buffer(
            "alphas_cumprod", self.scheduler.alphas_cumprod.to(torch.float32).clone(), persistent=False
        )
        self.embedding_dim = self._embedding_dim()
        # K of a camera-conditioned UNet (`forward` then needs camera_features [B, K]), else None
        self.camera_feature_dim = camera_feature_dim(self.unet)

    # --- what subclasses define -------------------------------------------------------------

    @abc.abstractmethod
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Renders [B, 3, H, W] in [0, 1] -> diffusion inputs [B, c, h, w] float32 (differentiable)."""

    @property
    def frozen_modules(self) -> list[nn.Module]:
        """The frozen networks GPU options apply to (the UNet, plus the VAE for latent models)."""
        return [self.unet]

    # --- the algorithm ------------------------------------------------------------------------

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    def forward(
        self,
        images: torch.Tensor,
        cond: TextEmbeddings,
        uncond: TextEmbeddings,
        progress: float,
        timesteps: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        camera_features: torch.Tensor | None = None,
    ) -> SDSOutput:
        """One SDS step.

        Args:
            images: [B, 3, H, W] renders in [0, 1].
            cond: prompt embeddings, tokens [B or 1, L, D] (D == `embedding_dim`).
            uncond: negative/empty-prompt embeddings, tokens [B or 1, L, D].
            progress: training progress in [0, 1] (drives timestep annealing).
            timesteps: [B] integer timesteps to use instead of sampling them.
            noise: [B, c, h, w] noise to use instead of drawing it (shape of `encode(images)`).
            camera_features: [B, K] features of each render's camera (`atom.guidance.camera_features`),
                required when the UNet is camera-conditioned (`camera_feature_dim` K), refused otherwise.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W], got {list(images.shape)}")
        batch, device = images.shape[0], images.device
        check_camera_features(camera_features, self.camera_feature_dim, batch, self.path)
        tokens, mask = self._batch_embeddings(cond, uncond, batch, device)
        timesteps = self._timesteps(timesteps, batch, progress, device)
        self._prepare(device)
        x = self.encode(images)
        if noise is None:
            noise = torch.randn_like(x)
        elif noise.shape != x.shape:
            raise ValueError(
                f"noise must have the diffusion-input shape {list(x.shape)}, got {list(noise.shape)}"
            )

        with torch.no_grad():
            noise = noise.to(x)
            x_t = self.scheduler.add_noise(x.detach(), noise, timesteps)
            eps_uncond, eps_cond = self._predict_eps(x_t, timesteps, tokens, mask, camera_features).chunk(2)
            eps_hat = eps_uncond + self.guidance_scale * (eps_cond - eps_uncond)
            weight = sds_weight(self.alphas_cumprod, timesteps, self.weighting).view(batch, 1, 1, 1)
            grad = torch.nan_to_num(weight * (eps_hat - noise), nan=0.0, posinf=0.0, neginf=0.0)
            if self.grad_clip is not None:
                grad = grad.clamp(-self.grad_clip, self.grad_clip)
            grad_norm = grad.flatten(1).norm(dim=1).mean().item()

        # d/dx of 0.5 * |x - stopgrad(x - grad)|^2 / B is grad / B.
        loss = 0.5 * F.mse_loss(x, (x - grad).detach(), reduction="sum") / batch
        return SDSOutput(loss=loss, timesteps=timesteps, grad=grad, grad_norm=grad_norm)

    def camera_features_for(self, azimuth: torch.Tensor, elevation: torch.Tensor) -> torch.Tensor | None:
        """What `forward` takes as ``camera_features`` for renders from cameras at ``azimuth`` and ``elevation``
        ([B] degrees, `atom.render.Cameras` fields): their features [B, K] for a camera-conditioned UNet, None
        for any other (DeepFloyd IF, Stable Diffusion, the text-only toy prior)."""
        if self.camera_feature_dim is None:
            return None
        return camera_features(azimuth, elevation)

    def _predict_eps(
        self,
        x_t: torch.Tensor,
        timesteps: torch.Tensor,
        tokens: torch.Tensor,
        mask: torch.Tensor | None,
        camera_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Noise predictions [2B, c, h, w] float32 for [x_t; x_t] under [uncond; cond] embeddings and, when
        given, the same [B, K] camera features in both halves."""
        sample = torch.cat([x_t, x_t]).to(self.unet.dtype)
        t_in = torch.cat([timesteps, timesteps])
        class_labels = None
        if camera_features is not None:
            class_labels = torch.cat([camera_features, camera_features]).to(x_t.device, self.unet.dtype)
        out = self.unet(
            sample,
            t_in,
            encoder_hidden_states=tokens.to(self.unet.dtype),
            encoder_attention_mask=mask,
            class_labels=class_labels,
        ).sample.float()
        # Models with learned variance (DeepFloyd IF) output [eps, variance]: keep eps.
        out = out[:, : x_t.shape[1]]
        if self.scheduler.config.prediction_type == "v_prediction":
            alpha_bar = self.alphas_cumprod[t_in].view(-1, 1, 1, 1)
            out = alpha_bar.sqrt() * out + (1.0 - alpha_bar).sqrt() * torch.cat([x_t, x_t])
        return out

    def _timesteps(
        self, timesteps: torch.Tensor | None, batch: int, progress: float, device: torch.device
    ) -> torch.Tensor:
        if timesteps is None:
            return self.schedule.sample(batch, self.num_train_timesteps, progress).to(device)
        if timesteps.shape != (batch,) or timesteps.dtype.is_floating_point:
            raise ValueError(
                f"timesteps must be an integer tensor [{batch}], "
                f"got {timesteps.dtype} {list(timesteps.shape)}"
            )
        if timesteps.min() < 0 or timesteps.max() >= self.num_train_timesteps:
            raise ValueError(
                f"timesteps must be in [0, {self.num_train_timesteps - 1}], got {timesteps.tolist()}"
            )
        return timesteps.to(device=device, dtype=torch.long)

    def _batch_embeddings(
        self, cond: TextEmbeddings, uncond: TextEmbeddings, batch: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[uncond; cond] tokens [2B, L, D] and (when used) mask [2B, L]; batch-1 embeddings broadcast."""
        parts = []
        for name, emb in (("uncond", uncond), ("cond", cond)):
            if emb.tokens.dim() != 3 or emb.tokens.shape[0] not in (1, batch):
                raise ValueError(
                    f"{name}.tokens must be [{batch} or 1, L, D] for {batch} images, "
                    f"got {list(emb.tokens.shape)}"
                )
            if emb.tokens.shape[-1] != self.embedding_dim:
                raise ValueError(
                    f"{name} embedding width {emb.tokens.shape[-1]} does not match the UNet's expected "
                    f"embedding width {self.embedding_dim} (cross_attention_dim / encoder_hid_dim of "
                    f"'{self.path}'); use the text encoder the diffusion model was trained with"
                )
            parts.append(emb)
        if uncond.tokens.shape[1] != cond.tokens.shape[1]:
            raise ValueError(
                f"uncond and cond must have the same token length, got {uncond.tokens.shape[1]} and "
                f"{cond.tokens.shape[1]}; pad both to the text encoder's max_length"
            )
        tokens = torch.cat([emb.tokens.expand(batch, -1, -1) for emb in parts]).to(device)
        if not self.use_attention_mask:
            return tokens, None
        mask = torch.cat([emb.mask.expand(batch, -1) for emb in parts]).to(device)
        return tokens, mask

    def _embedding_dim(self) -> int:
        """Token embedding width the UNet accepts: its text projection input, else cross-attention width."""
        config = self.unet.config
        if config.encoder_hid_dim_type not in (None, "text_proj"):
            raise ValueError(
                f"UNet encoder_hid_dim_type must be None or 'text_proj' (text-only conditioning), "
                f"got {config.encoder_hid_dim_type!r} in '{self.path}'"
            )
        if config.encoder_hid_dim is not None:
            return int(config.encoder_hid_dim)
        dims = config.cross_attention_dim
        dims = {dims} if isinstance(dims, int) else set(dims)
        if len(dims) != 1:
            raise ValueError(f"UNet blocks expect different embedding widths {sorted(dims)} in '{self.path}'")
        return int(dims.pop())

    # --- device, precision, frozen state -----------------------------------------------------

    def _prepare(self, device: torch.device) -> None:
        """Apply the GPU options the first time the module runs on a device (no-ops off CUDA)."""
        if self._prepared_device == device:
            return
        self._prepared_device = device
        options = self._gpu_options()
        if device.type != "cuda":
            if options:
                logger.info(
                    "%s on %s: GPU options %s not applied (CUDA only)", type(self).__name__, device, options
                )
            return
        for module in self.frozen_modules:
            module.to(dtype=self.gpu_dtype)
            if self.channels_last:
                module.to(memory_format=torch.channels_last)
        if self.attention_slicing:
            self.unet.set_attention_slice("auto")
        if self.xformers:
            self._enable_xformers()
        logger.info(
            "%s on %s: %s, %.1fM UNet params, options %s",
            type(self).__name__,
            device,
            self.gpu_dtype,
            sum(p.numel() for p in self.unet.parameters()) / 1e6,
            options or "none",
        )

    def _gpu_options(self) -> list[str]:
        named = [
            (self.gpu_dtype != torch.float32, str(self.gpu_dtype).removeprefix("torch.")),
            (self.channels_last, "channels_last"),
            (self.attention_slicing, "attention_slicing"),
            (self.xformers, "xformers"),
        ]
        return [name for wanted, name in named if wanted]

    def _enable_xformers(self) -> None:
        try:
            import xformers  # noqa: F401
        except ImportError:
            logger.warning("xformers requested but not importable; using PyTorch SDPA attention")
            return
        for module in self.frozen_modules:
            module.enable_xformers_memory_efficient_attention()

    def train(self, mode: bool = True) -> ScoreDistillation:
        """Keep the frozen networks in eval mode whatever the surrounding module does."""
        super().train(mode)
        for module in self.frozen_modules:
            module.eval()
        return self
