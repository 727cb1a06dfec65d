"""A tiny checkpoint for the inference tests, written once per session (``atom.testing.tiny_training``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atom.pipelines import TextToMeshPipeline
from atom.testing.tiny_training import tiny_checkpoint as build_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("inference_assets"))


@pytest.fixture(scope="session")
def tiny_assets_flexi(tmp_path_factory) -> Path:
    """The tiny checkpoint with the FlexiCubes weight head (``stage2.geometry=flexicubes``)."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("inference_assets_flexi"), "stage2.geometry=flexicubes")


@pytest.fixture(scope="session")
def pipeline(tiny_checkpoint) -> TextToMeshPipeline:
    return TextToMeshPipeline.from_pretrained(tiny_checkpoint)
