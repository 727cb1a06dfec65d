"""The text-encoder interface: prompts in, token embeddings out.

Every encoder in this room (T5 as DeepFloyd IF uses it, CLIP as Stable Diffusion uses it, the bundled
MiniLM of the toy world) is frozen and only ever runs forward, so the rest of the project sees one small
surface: `TextEncoder.encode(prompts) -> TextEmbeddings`, plus `dim`, `max_length` and `identity` (the
cache key). Input validation and the truncation warning live here, once, for all of them.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

logger = logging.getLogger(__name__)


@dataclass
class TextEmbeddings:
    """Encoded prompts, one row per prompt.

    tokens: [B, L, D] float, the per-token embeddings (padded to L).
    mask: [B, L] bool, True where the token is a real token (not padding).
    pooled: [B, D] float or None, one vector per prompt (CLIP's pooler output, MiniLM's mean; T5 has none).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.tokens.dim() != 3:
            raise ValueError(f"tokens must be [B, L, D], got {list(self.tokens.shape)}")
        batch, length, dim = self.tokens.shape
        if self.mask.shape != (batch, length) or self.mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be bool [B, L] = [{batch}, {length}], "
                f"got {self.mask.dtype} {list(self.mask.shape)}"
            )
        if self.pooled is not None and self.pooled.shape != (batch, dim):
            raise ValueError(f"pooled must be [B, D] = [{batch}, {dim}], got {list(self.pooled.shape)}")

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def length(self) -> int:
        """L, the padded sequence length."""
        return self.tokens.shape[1]

    @property
    def dim(self) -> int:
        """D, the embedding width."""
        return self.tokens.shape[2]

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> TextEmbeddings:
        """A copy on `device`; `dtype` (if given) converts the float tensors, never the mask."""
        return TextEmbeddings(
            tokens=self.tokens.to(device=device, dtype=dtype),
            mask=self.mask.to(device=device),
            pooled=None if self.pooled is None else self.pooled.to(device=device, dtype=dtype),
        )

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> TextEmbeddings:
        """Select prompts. An int keeps the batch axis (gives B = 1), so the result is always batched."""
        if isinstance(index, int):
            index = [index]
        if not isinstance(index, slice | torch.Tensor):
            index = torch.as_tensor(index, dtype=torch.long)
        if isinstance(index, torch.Tensor):
            index = index.to(self.tokens.device)
        return TextEmbeddings(
            tokens=self.tokens[index],
            mask=self.mask[index],
            pooled=None if self.pooled is None else self.pooled[index],
        )

    @classmethod
    def cat(cls, items: Sequence[TextEmbeddings]) -> TextEmbeddings:
        """Concatenate along the batch axis, right-padding shorter sequences (zeros, mask False)."""
        if not items:
            raise ValueError("cat needs at least one TextEmbeddings, got an empty list")
        dims = {item.dim for item in items}
        if len(dims) != 1:
            raise ValueError(f"cannot cat embeddings of different widths D: {sorted(dims)}")
        has_pooled = {item.pooled is not None for item in items}
        if len(has_pooled) != 1:
            raise ValueError("cannot cat embeddings where some have pooled vectors and some do not")
        length = max(item.length for item in items)
        tokens = [nn.functional.pad(item.tokens, (0, 0, 0, length - item.length)) for item in items]
        masks = [nn.functional.pad(item.mask, (0, length - item.length), value=False) for item in items]
        pooled = torch.cat([item.pooled for item in items]) if items[0].pooled is not None else None
        return cls(tokens=torch.cat(tokens), mask=torch.cat(masks), pooled=pooled)


def validate_prompts(prompts: Sequence[str], allow_empty: bool = False) -> list[str]:
    """Check a batch of prompts and return it as a list.

    An empty batch, a non-string, or (unless `allow_empty`, used for the unconditional "" prompt) an
    empty or whitespace-only prompt is a ValueError naming its index.
    """
    if isinstance(prompts, str):
        raise ValueError(f"prompts must be a list of strings, got a single string {prompts!r}")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("prompts must be a non-empty list of strings, got an empty list")
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise ValueError(f"prompt {index} must be a str, got {type(prompt).__name__}: {prompt!r}")
        if not allow_empty and not prompt.strip():
            raise ValueError(f"prompt {index} is empty or whitespace-only: {prompt!r}")
    return prompts


class TextEncoder(nn.Module, ABC):
    """A frozen text encoder: `encode(prompts) -> TextEmbeddings` with tokens [B, max_length, dim].

    Subclasses implement `_encode` (one batch of already validated prompts, run under no_grad) and
    `count_tokens` (how many tokens a prompt has before truncation, counted with the tokenizer), and
    the properties `dim`, `max_length` and `identity`. They must call `self.freeze()` once built.
    """

    def __init__(self) -> None:
        super().__init__()
        self._warned_truncated: set[str] = set()

    @property
    @abstractmethod
    def dim(self) -> int:
        """D, the width of each token embedding."""

    @property
    @abstractmethod
    def max_length(self) -> int:
        """L, the padded (and truncated) sequence length."""

    @property
    @abstractmethod
    def identity(self) -> str:
        """A stable string naming model, path, max length and dtype: the embedding cache key."""

    @abstractmethod
    def count_tokens(self, prompt: str) -> int:
        """Number of tokens (special tokens included) the tokenizer makes of `prompt`, untruncated."""

    @abstractmethod
    def _encode(self, prompts: list[str]) -> TextEmbeddings:
        """Encode one batch of validated prompts into [B, max_length, dim] embeddings."""

    def freeze(self) -> None:
        """Stop gradients into every parameter and switch to eval mode (no dropout)."""
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> TextEncoder:
        """Stays in eval mode whatever `mode` says: a parent's `.train()` must not turn dropout on."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        """Where the encoder's parameters live."""
        return next(self.parameters()).device

    def encode(
        self, prompts: Sequence[str], batch_size: int = 64, allow_empty: bool = False
    ) -> TextEmbeddings:
        """Encode `prompts` (a list of B strings) into TextEmbeddings [B, max_length, dim].

        Runs in batches of `batch_size` under torch.no_grad. Prompts longer than `max_length` tokens are
        truncated, with one warning per distinct prompt over this encoder's lifetime. `allow_empty`
        admits "" (the unconditional prompt of classifier-free guidance).
        """
        prompts = validate_prompts(prompts, allow_empty=allow_empty)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for prompt in prompts:
            if prompt in self._warned_truncated:
                continue
            count = self.count_tokens(prompt)
            if count > self.max_length:
                self._warned_truncated.add(prompt)
                logger.warning(
                    "prompt %r has %d tokens, more than max_length=%d of %s: truncated",
                    prompt,
                    count,
                    self.max_length,
                    type(self).__name__,
                )
        with torch.no_grad():
            batches = [self._encode(prompts[i : i + batch_size]) for i in range(0, len(prompts), batch_size)]
        return TextEmbeddings.cat(batches)
