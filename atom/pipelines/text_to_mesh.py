"""Text to textured mesh in one forward pass: the object a trained checkpoint is for (diffusers-style pipeline).

``TextToMeshPipeline.from_pretrained(path)`` opens a checkpoint (or a run directory: its newest checkpoint)
with the text encoder named in the checkpoint's own config; ``pipe(prompts)`` returns one ``Mesh`` per prompt
with vertex colors from the color head. The grid resolution is chosen per call (64 on CPU, 128 on GPU). The
mesh extractor is the checkpoint's own (``TextToMeshConfig.extractor``: DMTet, or FlexiCubes with its weight
head; older checkpoints are DMTet) unless ``extractor=`` overrides it (logged); ``backend=`` picks whose
extractors run ("torch" or "kaolin").
``pipe.interpolate(prompts, steps, mode)`` walks the text embeddings between consecutive prompts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor

from atom.build import build_text_encoder
from atom.config import TrainConfig
from atom.geometry import Mesh, mesh_extractor
from atom.model import CheckpointError, TextToMeshModel, extraction_grid, resolve_checkpoint, triplanes_to_meshes
from atom.pipelines.interpolation import InterpolationPoint, interpolate_embeddings, walk
from atom.pipelines.texture_baking import query_colors
from atom.text import TextEmbeddings, TextEncoder

logger = logging.getLogger(__name__)
# Color queries per call when baking textures: bounds the memory of the head's hidden activations.
COLOR_CHUNK = 1 << 18


class TextToMeshPipeline:
    """A trained text-to-triplane model with its text encoder: ``TextToMeshPipeline.from_pretrained(path)(prompts)``."""

    def __init__(self, model: TextToMeshModel, text_encoder: TextEncoder | None, device: str | torch.device = "cpu",
                 extractor: str | None = None, backend: str = "torch"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.text_encoder = text_encoder
        trained = model.config.extractor
        self.extractor = extractor or trained
        self.backend = backend
        mesh_extractor(self.extractor, backend)  # a bad name or a missing kaolin fails here, not mid-run
        if self.extractor != trained:
            weights = "" if model.weight_head is not None else " at FlexiCubes' default weights (no weight head)"
            logger.info("mesh extractor %s%s for a model trained with %s", self.extractor,
                        weights if self.extractor == "flexicubes" else "", trained)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str | torch.device = "cpu", text_encoder: TextEncoder | None = None,
        extractor: str | None = None, backend: str = "torch",
    ) -> TextToMeshPipeline:
        """Open a checkpoint directory or a run directory; build the text encoder its config names. ``extractor``
        ("dmtet" | "flexicubes", None: the checkpoint's own) and ``backend`` ("torch" | "kaolin") choose the
        mesh extraction."""
        checkpoint = resolve_checkpoint(path)
        try:
            model = TextToMeshModel.from_pretrained(checkpoint)
        except Exception as err:
            raise CheckpointError(f"cannot load the model from {str(checkpoint)!r}: {err}") from err
        if text_encoder is None:
            config_file = checkpoint / "train_config.yaml"
            if not config_file.is_file():
                raise CheckpointError(f"{str(checkpoint)!r} has no train_config.yaml naming its text encoder; "
                                      "pass text_encoder= explicitly")
            try:
                cfg: TrainConfig = OmegaConf.to_object(
                    OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.load(config_file)))
            except Exception as err:  # YAML syntax, unknown keys, bad values: a config from other code
                raise CheckpointError(f"{config_file} does not match this version of atom's TrainConfig: "
                                      f"{err}") from err
            try:
                text_encoder = build_text_encoder(cfg.text, torch.device(device))
            except Exception as err:
                raise CheckpointError(f"cannot build the text encoder named in {config_file} "
                                      f"({cfg.text.kind.name}, path={cfg.text.path!r}): {err}") from err
        if text_encoder.dim != model.config.text_dim:
            raise CheckpointError(f"text encoder gives {text_encoder.dim}-d tokens, the model in "
                                  f"{str(checkpoint)!r} expects {model.config.text_dim}")
        logger.info("loaded %s (%s)", checkpoint, text_encoder.identity)
        return cls(model, text_encoder, device, extractor, backend)

    def encode(self, prompts: list[str]) -> TextEmbeddings:
        if self.text_encoder is None:
            raise RuntimeError("this pipeline has no text encoder; call from_embeddings() instead")
        return self.text_encoder.encode(list(prompts)).to(self.device)

    @torch.no_grad()
    def triplanes(self, text: TextEmbeddings) -> Tensor:
        """The front end alone: embeddings ``[B, L, D]`` -> triplanes ``[B, 3, C, R, R]``."""
        return self.model(text.tokens.to(self.device), text.mask.to(self.device))

    @torch.no_grad()
    def meshes(self, triplanes: Tensor, grid_resolution: int = 64, color: bool = True) -> list[Mesh]:
        """One mesh per triplane ``[B, 3, C, R, R]`` with the pipeline's extractor on a grid of ``grid_resolution``
        cells per axis; vertex colors from the color head unless ``color=False``."""
        grid = extraction_grid(self.extractor, grid_resolution, self.model.config.bound, self.device)
        return triplanes_to_meshes(self.model, triplanes, grid, color=color, backend=self.backend)

    @torch.no_grad()
    def colors(self, triplane: Tensor, points: Tensor) -> Tensor:
        """The color head of one triplane ``[3, C, R, R]`` at ``points [N, 3]`` (world units) -> RGB ``[N, 3]``
        in [0, 1], on the points' device; any N (queried in chunks)."""
        return query_colors(self.model.color, triplane, points, self.device, COLOR_CHUNK)

    def from_embeddings(self, text: TextEmbeddings, grid_resolution: int = 64) -> list[Mesh]:
        return self.meshes(self.triplanes(text), grid_resolution)

    def __call__(self, prompts: str | list[str], grid_resolution: int = 64) -> list[Mesh]:
        """One batched forward pass for all prompts; ``list[Mesh]`` in prompt order."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        return self.from_embeddings(self.encode(prompts), grid_resolution)

    def interpolate(self, prompts: list[str], steps: int = 5, mode: str = "linear",
                    grid_resolution: int = 64) -> list[tuple[InterpolationPoint, Mesh]]:
        """Meshes along a walk through the text embeddings of ``prompts`` (in order): ``steps`` per
        consecutive pair, both ends included and shared ends once; ``mode`` "linear" or "slerp" per token.

        All prompts are encoded in one batch (one token length); every point is generated in one forward
        pass. The end points are exactly the plain generations of their prompts."""
        points = walk(prompts, steps)
        text = self.walk_embeddings(prompts, points, mode)
        return list(zip(points, self.from_embeddings(text, grid_resolution), strict=True))

    def walk_embeddings(self, prompts: list[str], points: list[InterpolationPoint], mode: str) -> TextEmbeddings:
        """The embeddings ``[len(points), L, D]`` of a walk (``atom.pipelines.interpolation.walk``) through
        ``prompts``, all encoded in one batch."""
        return interpolate_embeddings(self.encode(list(prompts)), points, mode)
