"""View-dependent prompts (DreamFusion): "a red cube, front view", and their embeddings per prompt and view.

Score distillation renders an object from some camera and asks the diffusion model about the prompt
with a suffix naming that view, which keeps the model from painting a face on every side. All suffixed
prompts are encoded once (`ViewDependentEmbeddings.build`), saved, and looked up by index during
training, so the training process never holds the text encoder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from atom.text.cache import EmbeddingCache
from atom.text.encoder import TextEmbeddings, TextEncoder, validate_prompts

VIEWS = ("front", "side", "back", "overhead")
TENSORS_FILE = "embeddings.safetensors"
INDEX_FILE = "prompts.json"


def view_prompt(prompt: str, view: str) -> str:
    """`prompt` with DreamFusion's view suffix, e.g. ("a red cube", "front") -> "a red cube, front view"."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    return f"{prompt}, {view} view"


@dataclass
class ViewDependentEmbeddings:
    """Embeddings of every prompt under every view suffix, plus the unconditional (negative) prompt.

    prompts: the P base prompts (without suffix). tokens: [P, V, L, D] with V = len(VIEWS), in VIEWS order.
    mask: [P, V, L] bool. pooled: [P, V, D] or None. uncond: TextEmbeddings [1, L, D] of `negative_prompt`.
    identity: the text encoder's identity, so a consumer can check it matches its own expectations.
    """

    prompts: list[str]
    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor | None
    uncond: TextEmbeddings
    identity: str
    negative_prompt: str = ""

    def __post_init__(self) -> None:
        shape = (len(self.prompts), len(VIEWS))
        if self.tokens.dim() != 4 or self.tokens.shape[:2] != shape:
            raise ValueError(
                f"tokens must be [P, V, L, D] with P, V = {shape}, got {list(self.tokens.shape)}"
            )
        if self.mask.shape != self.tokens.shape[:3]:
            raise ValueError(
                f"mask must be [P, V, L] = {list(self.tokens.shape[:3])}, got {list(self.mask.shape)}"
            )
        if self.pooled is not None and self.pooled.shape != (*shape, self.tokens.shape[3]):
            raise ValueError(f"pooled must be [P, V, D], got {list(self.pooled.shape)}")
        if len(self.uncond) != 1 or self.uncond.tokens.shape[1:] != self.tokens.shape[2:]:
            raise ValueError(
                f"uncond must be [1, L, D] with L, D = {tuple(self.tokens.shape[2:])}, "
                f"got {list(self.uncond.tokens.shape)}"
            )

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def length(self) -> int:
        """L, the padded sequence length."""
        return self.tokens.shape[2]

    @property
    def dim(self) -> int:
        """D, the embedding width."""
        return self.tokens.shape[3]

    @classmethod
    def build(
        cls,
        encoder: TextEncoder,
        prompts: Sequence[str],
        cache: EmbeddingCache | None = None,
        negative_prompt: str = "",
        batch_size: int = 64,
    ) -> ViewDependentEmbeddings:
        """Encode each of `prompts` with each view suffix, and `negative_prompt`, through `cache` if given."""
        prompts = validate_prompts(prompts)
        suffixed = [view_prompt(prompt, view) for prompt in prompts for view in VIEWS]
        if cache is None:
            cond = encoder.encode(suffixed, batch_size=batch_size)
            uncond = encoder.encode([negative_prompt], allow_empty=True)
        else:
            cond = cache.get_or_encode(encoder, suffixed, batch_size=batch_size)
            uncond = cache.get_or_encode(encoder, [negative_prompt], allow_empty=True)
        return cls._from_flat(prompts, cond, uncond, encoder.identity, negative_prompt)

    @classmethod
    def from_cache(
        cls, cache: EmbeddingCache, identity: str, prompts: Sequence[str], negative_prompt: str = ""
    ) -> ViewDependentEmbeddings:
        """The same as `build`, read from a cache that `build` filled, without loading the encoder."""
        prompts = validate_prompts(prompts)
        cond = cache.load(identity, [view_prompt(prompt, view) for prompt in prompts for view in VIEWS])
        uncond = cache.load(identity, [negative_prompt])
        return cls._from_flat(prompts, cond, uncond, identity, negative_prompt)

    @classmethod
    def _from_flat(
        cls,
        prompts: list[str],
        cond: TextEmbeddings,
        uncond: TextEmbeddings,
        identity: str,
        negative_prompt: str,
    ) -> ViewDependentEmbeddings:
        """Fold prompt-major [P * V, L, D] embeddings into [P, V, L, D]."""
        shape = (len(prompts), len(VIEWS))
        return cls(
            prompts=prompts,
            tokens=cond.tokens.reshape(*shape, *cond.tokens.shape[1:]),
            mask=cond.mask.reshape(*shape, -1),
            pooled=None if cond.pooled is None else cond.pooled.reshape(*shape, -1),
            uncond=uncond,
            identity=identity,
            negative_prompt=negative_prompt,
        )

    def lookup(
        self, prompt_indices: torch.Tensor, views: Sequence[str]
    ) -> tuple[TextEmbeddings, TextEmbeddings]:
        """Conditional embeddings [B, L, D] of prompt `prompt_indices[b]` seen from `views[b]`, and the
        unconditional embedding expanded to [B, L, D] (a view, no copy)."""
        prompt_indices = torch.as_tensor(prompt_indices, dtype=torch.long)
        if prompt_indices.dim() != 1 or len(prompt_indices) != len(views):
            raise ValueError(
                f"prompt_indices must be [B] with B = len(views) = {len(views)}, "
                f"got {list(prompt_indices.shape)}"
            )
        unknown = [view for view in views if view not in VIEWS]
        if unknown:
            raise ValueError(f"views must be in {VIEWS}, got {unknown}")
        if len(prompt_indices) and not 0 <= int(prompt_indices.min()) <= int(prompt_indices.max()) < len(
            self
        ):
            raise ValueError(f"prompt_indices must be in [0, {len(self)}), got {prompt_indices.tolist()}")
        device = self.tokens.device
        rows = prompt_indices.to(device)
        columns = torch.tensor([VIEWS.index(view) for view in views], dtype=torch.long, device=device)
        cond = TextEmbeddings(
            tokens=self.tokens[rows, columns],
            mask=self.mask[rows, columns],
            pooled=None if self.pooled is None else self.pooled[rows, columns],
        )
        batch = len(views)
        uncond = TextEmbeddings(
            tokens=self.uncond.tokens.expand(batch, -1, -1),
            mask=self.uncond.mask.expand(batch, -1),
            pooled=None if self.uncond.pooled is None else self.uncond.pooled.expand(batch, -1),
        )
        return cond, uncond

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> ViewDependentEmbeddings:
        """A copy on `device`; `dtype` (if given) converts the float tensors, never the masks."""
        return ViewDependentEmbeddings(
            prompts=self.prompts,
            tokens=self.tokens.to(device=device, dtype=dtype),
            mask=self.mask.to(device=device),
            pooled=None if self.pooled is None else self.pooled.to(device=device, dtype=dtype),
            uncond=self.uncond.to(device=device, dtype=dtype),
            identity=self.identity,
            negative_prompt=self.negative_prompt,
        )

    def save(self, path: str | Path) -> Path:
        """Write folder `path`: tensors in embeddings.safetensors, prompts and settings in prompts.json."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {
            "tokens": self.tokens,
            "mask": self.mask,
            "uncond_tokens": self.uncond.tokens,
            "uncond_mask": self.uncond.mask,
        }
        if self.pooled is not None:
            tensors["pooled"] = self.pooled
        if self.uncond.pooled is not None:
            tensors["uncond_pooled"] = self.uncond.pooled
        save_file(
            {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()},
            path / TENSORS_FILE,
        )
        index = {
            "prompts": self.prompts,
            "views": list(VIEWS),
            "negative_prompt": self.negative_prompt,
            "identity": self.identity,
        }
        (path / INDEX_FILE).write_text(
            json.dumps(index, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return path

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> ViewDependentEmbeddings:
        """Read a folder written by `save`, onto `device`."""
        path = Path(path)
        for name in (TENSORS_FILE, INDEX_FILE):
            if not (path / name).is_file():
                raise FileNotFoundError(
                    f"view-dependent embeddings: {path / name} not found (written by save)"
                )
        index = json.loads((path / INDEX_FILE).read_text(encoding="utf-8"))
        if tuple(index["views"]) != VIEWS:
            raise ValueError(f"{path} was saved with views {index['views']}, this code uses {VIEWS}")
        tensors = load_file(path / TENSORS_FILE, device=str(device))
        return cls(
            prompts=index["prompts"],
            tokens=tensors["tokens"],
            mask=tensors["mask"],
            pooled=tensors.get("pooled"),
            uncond=TextEmbeddings(
                tokens=tensors["uncond_tokens"],
                mask=tensors["uncond_mask"],
                pooled=tensors.get("uncond_pooled"),
            ),
            identity=index["identity"],
            negative_prompt=index["negative_prompt"],
        )
