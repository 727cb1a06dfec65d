"""Shared, session-wide text encoders for the text room's tests (built or loaded once: they cost seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atom.testing.tiny_text import build_tiny_clip, build_tiny_t5
from atom.text.minilm import MiniLMTextEncoder


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_t5(tmp_path_factory.mktemp("tiny_t5"))


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="session")
def minilm() -> MiniLMTextEncoder:
    return MiniLMTextEncoder()
