"""The text front end: token embeddings -> triplane (AToM, arXiv 2402.00867, Sec. 3.2).

Learned low-resolution triplane queries ``[3, hidden, q, q]`` read the prompt through transformer
blocks (pre-norm self-attention over the ``3 q^2`` query tokens, cross-attention to the text tokens,
MLP), each followed by a residual 3D-aware convolution (:class:`~atom.model.triplane_conv.TriplaneConv`)
so the planes agree on one volume. Upsampling stages (nearest x2 + 3D-aware conv) then reach
``triplane_resolution``. Plane order and axes are those of :mod:`atom.model.triplane`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atom.model.triplane_conv import TriplaneConv


def _plane_group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


def _per_plane(operation: Callable[[Tensor], Tensor], planes: Tensor) -> Tensor:
    """Apply a 2D operation to each plane of ``[B, 3, C, R, R]`` (shared weights)."""
    batch = planes.shape[0]
    out = operation(planes.flatten(0, 1))
    return out.reshape(batch, 3, *out.shape[1:])


class Attention(nn.Module):
    """Multi-head attention of ``[B, N, dim]`` queries to ``[B, L, dim]`` keys/values."""

    def __init__(self, dim: int = 128, num_heads: int = 4) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"hidden_dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, queries: Tensor, context: Tensor, key_mask: Tensor | None = None) -> Tensor:
        """``key_mask``: ``[B, L]`` bool, True where a key may be attended to (None: all)."""

        def heads(x: Tensor) -> Tensor:  # [B, N, dim] -> [B, heads, N, dim / heads]
            return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

        keys, values = self.to_kv(context).chunk(2, dim=-1)
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            heads(self.to_q(queries)), heads(keys), heads(values), attn_mask=attn_mask
        )
        return self.to_out(out.transpose(1, 2).flatten(2))


class TriplaneBlock(nn.Module):
    """Self-attention, cross-attention to text and MLP over the plane tokens, then a 3D-aware conv.

    All four sub-layers are pre-norm and residual. Works on planes ``[B, 3, dim, q, q]``.
    """

    def __init__(self, dim: int = 128, num_heads: int = 4, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.self_norm = nn.LayerNorm(dim)
        self.self_attention = Attention(dim, num_heads)
        self.cross_norm = nn.LayerNorm(dim)
        self.cross_attention = Attention(dim, num_heads)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))
        self.conv_norm = _plane_group_norm(dim)
        self.conv = TriplaneConv(dim, dim)

    def forward(self, planes: Tensor, text: Tensor, text_mask: Tensor) -> Tensor:
        """planes ``[B, 3, dim, q, q]``, text ``[B, L, dim]``, text_mask ``[B, L]`` bool -> planes."""
        batch, _, dim, res, _ = planes.shape
        tokens = planes.permute(0, 1, 3, 4, 2).reshape(batch, 3 * res * res, dim)
        normed = self.self_norm(tokens)
        tokens = tokens + self.self_attention(normed, normed)
        tokens = tokens + self.cross_attention(self.cross_norm(tokens), text, text_mask)
        tokens = tokens + self.mlp(self.mlp_norm(tokens))
        planes = tokens.reshape(batch, 3, res, res, dim).permute(0, 1, 4, 2, 3)
        return planes + self.conv(F.silu(_per_plane(self.conv_norm, planes)))


class UpsampleStage(nn.Module):
    """Nearest x2 upsampling, then a 3D-aware conv, group norm with a text-set scale and shift, and SiLU:
    ``[B, 3, c_in, R, R]`` -> ``[B, 3, c_out, 2R, 2R]``."""

    def __init__(self, in_channels: int = 128, out_channels: int = 64, text_channels: int = 128) -> None:
        super().__init__()
        self.conv = TriplaneConv(in_channels, out_channels)
        self.norm = _plane_group_norm(out_channels)
        self.modulation = nn.Linear(text_channels, 2 * out_channels)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, planes: Tensor, text: Tensor) -> Tensor:
        """planes ``[B, 3, c_in, R, R]``, text ``[B, text_channels]`` (pooled prompt)."""
        planes = _per_plane(lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), planes)
        planes = _per_plane(self.norm, self.conv(planes))
        scale, shift = self.modulation(text)[:, None, :, None, None].chunk(2, dim=2)
        return F.silu(planes * (1.0 + scale) + shift)


class TextToTriplane(nn.Module):
    """Token embeddings ``[B, L, text_dim]`` + mask ``[B, L]`` -> triplane ``[B, 3, C, R, R]``.

    Args:
        text_dim: size ``D`` of the text encoder's token embeddings.
        query_resolution: side ``q`` of the learned query planes.
        hidden_dim: width of the transformer blocks.
        num_blocks: number of :class:`TriplaneBlock`.
        num_heads: attention heads (must divide ``hidden_dim``).
        triplane_resolution: output side ``R``; must be ``query_resolution * 2**k``, k >= 0.
        triplane_channels: output channels ``C``.
    """

    def __init__(
        self,
        text_dim: int = 384,
        query_resolution: int = 8,
        hidden_dim: int = 128,
        num_blocks: int = 2,
        num_heads: int = 4,
        triplane_resolution: int = 64,
        triplane_channels: int = 32,
    ) -> None:
        super().__init__()
        ratio = triplane_resolution // query_resolution if query_resolution > 0 else 0
        if ratio < 1 or ratio * query_resolution != triplane_resolution or ratio & (ratio - 1):
            raise ValueError(
                f"triplane_resolution must be query_resolution * 2**k (k >= 0); got triplane_resolution="
                f"{triplane_resolution}, query_resolution={query_resolution}"
            )
        self.text_dim = text_dim
        self.triplane_channels = triplane_channels
        # Unit-scale queries: their position-specific signal should be as strong as the text's.
        self.queries = nn.Parameter(torch.randn(3, hidden_dim, query_resolution, query_resolution))
        self.text_projection = nn.Sequential(nn.Linear(text_dim, hidden_dim), nn.LayerNorm(hidden_dim))
        self.blocks = nn.ModuleList(TriplaneBlock(hidden_dim, num_heads) for _ in range(num_blocks))
        stages = []
        channels = hidden_dim
        for i in range(ratio.bit_length() - 1):
            # Halve the width per doubling of resolution to keep cost roughly flat, never below C.
            out_channels = max(hidden_dim // 2 ** (i + 1), triplane_channels)
            stages.append(UpsampleStage(channels, out_channels, hidden_dim))
            channels = out_channels
        self.upsample = nn.ModuleList(stages)
        self.to_triplane = TriplaneConv(channels, triplane_channels)

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """tokens ``[B, L, text_dim]``, mask ``[B, L]`` (bool or 0/1; True/1 = real token) ->
        triplane ``[B, 3, triplane_channels, R, R]``. Masked tokens do not influence the output."""
        if tokens.dim() != 3:
            raise ValueError(f"tokens must be [B, L, D], got {list(tokens.shape)}")
        if tokens.shape[-1] != self.text_dim:
            raise ValueError(
                f"token embedding size {tokens.shape[-1]} does not match text_dim {self.text_dim}"
            )
        if mask.shape != tokens.shape[:2]:
            raise ValueError(f"mask must be [B, L] = {list(tokens.shape[:2])}, got {list(mask.shape)}")
        mask = mask.to(device=tokens.device, dtype=torch.bool)
        if not bool(mask.any(dim=1).all()):
            raise ValueError("mask must keep at least one token per prompt; some rows are all padding")
        # Cached embeddings may be stored in half precision; compute in the network's dtype.
        text = self.text_projection(tokens.to(self.queries.dtype))
        planes = self.queries.expand(tokens.shape[0], -1, -1, -1, -1)
        for block in self.blocks:
            planes = block(planes, text, mask)
        weights = mask[..., None].to(text.dtype)
        pooled = (text * weights).sum(dim=1) / weights.sum(dim=1)  # [B, hidden]: padding left out
        for stage in self.upsample:
            planes = stage(planes, pooled)
        return self.to_triplane(planes)
