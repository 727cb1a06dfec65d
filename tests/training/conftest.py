"""Fixtures for trainer tests: tiny models built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from atom.testing.tiny_training import compose_tiny


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_assets")


@pytest.fixture
def tiny_config(tiny_assets):
    """``tiny_config(run_dir, *overrides) -> DictConfig``."""
    return lambda run_dir, *overrides: compose_tiny(tiny_assets, run_dir, *overrides)
