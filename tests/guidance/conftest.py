"""Tiny pipelines built once per test session, and text embeddings that need no text encoder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from atom.testing.tiny_diffusion import build_tiny_if, build_tiny_sd
from atom.text.encoder import TextEmbeddings


@pytest.fixture(scope="session")
def tiny_if(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_if(tmp_path_factory.mktemp("tiny_if"))


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sd(tmp_path_factory.mktemp("tiny_sd"))


def _random_embeddings(
    batch: int, dim: int, seed: int, length: int = 12, real_tokens: int = 5
) -> TextEmbeddings:
    """Embeddings [batch, length, dim] whose first `real_tokens` tokens are marked real in the mask."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    mask[:, :real_tokens] = True
    return TextEmbeddings(tokens=torch.randn(batch, length, dim, generator=generator), mask=mask)


@pytest.fixture
def make_embeddings() -> Callable[..., TextEmbeddings]:
    """`make_embeddings(batch, dim, seed)`: random TextEmbeddings, so SDS tests need no text encoder."""
    return _random_embeddings
