"""Frozen text encoders behind one interface, and the on-disk embedding cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atom.text.clip import CLIPTextEncoder
from atom.text.encoder import TextEmbeddings, TextEncoder, validate_prompts
from atom.text.minilm import MiniLMTextEncoder
from atom.text.t5 import T5TextEncoder

if TYPE_CHECKING:
    from atom.text.cache import EmbeddingCache


def __getattr__(name: str) -> object:
    # EmbeddingCache is imported on first use, so `python -m atom.text.cache` does not find its own
    # module already imported by this package (runpy warns about that).
    if name == "EmbeddingCache":
        from atom.text.cache import EmbeddingCache

        return EmbeddingCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLIPTextEncoder",
    "EmbeddingCache",
    "MiniLMTextEncoder",
    "T5TextEncoder",
    "TextEmbeddings",
    "TextEncoder",
    "validate_prompts",
]
