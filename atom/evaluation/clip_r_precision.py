"""CLIP R-precision: do renders of a prompt's mesh pick out that prompt among all prompts of the set?

The metric AToM and ATT3D report for amortized text-to-3D. Protocol:

1. each prompt's mesh is rendered from V views (default 8 azimuths 0, 45, ..., 315 degrees at one fixed
   elevation), textured with its vertex colors, head-lit, on white, with the project's own preview renderer
   (``render_views``: the same images ``atom.infer`` saves as turntables);
2. a CLIP model (transformers ``CLIPModel`` + ``CLIPProcessor``, e.g. ViT-B/32 or ViT-L/14, loaded with
   ``from_pretrained(path)``) embeds every render and every prompt's text; embeddings are L2-normalised, so
   similarities ``s[p, v, q]`` are cosines between view v of prompt p and the text of prompt q;
3. view v of prompt p is a hit at k when its own text ranks among the k most similar of all P texts.
   Ties are broken uniformly at random, in expectation: with g other texts strictly more similar and t
   tied with the own text, the hit is ``clamp((k - g) / (t + 1), 0, 1)`` (a model that sees nothing scores
   exactly chance, k / P);
4. R@k = hits averaged over the V views of a prompt, then over prompts (per split: all, and seen/unseen
   when the prompt set has a held-out test split). The mean CLIP similarity is the cosine between each
   view and the own prompt's text, averaged the same way.

An empty mesh renders as V white images and is scored like any other render (its count is reported).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import CLIPModel, CLIPProcessor

from atom.geometry import Mesh
from atom.pipelines.previews import render_views
from atom.prompts import PromptSet
from atom.render import Rasterizer, turntable
from atom.render.images import to_pil

logger = logging.getLogger(__name__)

RECALL_AT = (1, 5)


class CLIPLoadError(OSError):
    """No CLIP model was given, or none could be loaded from where it was looked for."""


@dataclass(frozen=True)
class ViewProtocol:
    """Where the V cameras sit: evenly spaced azimuths from 0 (front), one elevation; degrees, world units."""

    views: int = 8
    elevation: float = 15.0
    distance: float = 2.8
    fov: float = 40.0
    resolution: int = 224  # rendered pixels per side (CLIP's processor resizes to its own input size)


class CLIPScorer:
    """A frozen CLIP model and its processor: normalised image and text embeddings ``[N, E]``.

    path: a local folder (``config.json``, weights, tokenizer and preprocessor files, as ``save_pretrained``
    writes them) or a hub id already in the local cache.
    """

    def __init__(self, path: str | Path | None, device: str | torch.device = "cpu", batch_size: int = 32) -> None:
        if not path:
            raise CLIPLoadError("the CLIP metric needs a CLIP model: pass clip.path=<CLIP model folder or hub id>, "
                             "e.g. a folder saved from openai/clip-vit-base-patch32")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.path = str(path)
        self.device = torch.device(device)
        self.batch_size = batch_size
        try:
            self.model = CLIPModel.from_pretrained(self.path).to(self.device).eval().requires_grad_(False)
            self.processor = CLIPProcessor.from_pretrained(self.path)
        except (OSError, ValueError) as err:
            raise CLIPLoadError(
                f"could not load a CLIP model (CLIPModel + CLIPProcessor) from {self.path!r}: looked in "
                f"{_where(self.path)} ({err}). Pass clip.path=/path/to/clip, a folder holding config.json, the "
                "weights, the tokenizer and the preprocessor config (as save_pretrained writes them)."
            ) from err
        logger.info("CLIP model %s: %s, projection %d", self.path, type(self.model).__name__,
                    self.model.config.projection_dim)

    @torch.no_grad()
    def embed_images(self, images: Tensor) -> Tensor:
        """Renders ``[N, 3, H, W]`` in [0, 1] -> unit image embeddings ``[N, E]`` (float32, on CPU).

        Images go through the processor as 8-bit RGB, as a saved render would.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [N, 3, H, W], got {list(images.shape)}")
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            pil = [to_pil(image) for image in images[start : start + self.batch_size]]
            pixels = self.processor(images=pil, return_tensors="pt")["pixel_values"].to(self.device)
            pooled = self.model.vision_model(pixel_values=pixels).pooler_output
            out.append(self.model.visual_projection(pooled).float().cpu())
        return F.normalize(torch.cat(out), dim=-1)

    @torch.no_grad()
    def embed_texts(self, prompts: Sequence[str]) -> Tensor:
        """Prompts -> unit text embeddings ``[P, E]`` (float32, on CPU); truncated to the model's length."""
        out = []
        for start in range(0, len(prompts), self.batch_size):
            batch = self.processor(text=list(prompts[start : start + self.batch_size]), return_tensors="pt",
                                   padding=True, truncation=True)
            pooled = self.model.text_model(input_ids=batch["input_ids"].to(self.device),
                                           attention_mask=batch["attention_mask"].to(self.device)).pooler_output
            out.append(self.model.text_projection(pooled).float().cpu())
        return F.normalize(torch.cat(out), dim=-1)


def _where(path: str) -> str:
    """Where ``from_pretrained(path)`` looks: a local folder, or the hub cache for an id such as owner/name."""
    local = Path(path).expanduser()
    if local.exists() or local.is_absolute() or path.startswith((".", "~")) or path.count("/") > 1:
        return f"the folder {str(local.resolve())!r}" + ("" if local.is_dir() else ", which does not exist")
    return f"the local hub cache for the id {path!r} (nothing is downloaded when HF_HUB_OFFLINE is set)"


def recall_at_k(similarity: Tensor, k: int) -> Tensor:
    """Per-prompt hit rate at k ``[P]``: the share of each prompt's views whose own text is among the k most
    similar texts, ties broken uniformly at random (in expectation).

    similarity: ``[P, V, P]``, ``similarity[p, v, q]`` between view v of prompt p and the text of prompt q.
    """
    if similarity.dim() != 3 or similarity.shape[0] != similarity.shape[2]:
        raise ValueError(f"similarity must be [P, V, P], got {list(similarity.shape)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    prompts = similarity.shape[0]
    own = similarity[torch.arange(prompts), :, torch.arange(prompts)][..., None]  # [P, V, 1]
    greater = (similarity > own).sum(-1).double()
    tied = (similarity == own).sum(-1).double() - 1.0  # the own text is not its own rival
    hits = ((k - greater) / (tied + 1.0)).clamp(0.0, 1.0)
    return hits.mean(dim=1)


def own_similarity(similarity: Tensor) -> Tensor:
    """Mean cosine between each prompt's views and its own text, ``[P]`` (similarity ``[P, V, P]``)."""
    prompts = similarity.shape[0]
    return similarity[torch.arange(prompts), :, torch.arange(prompts)].double().mean(dim=1)


def similarity_matrix(image_embeddings: Tensor, text_embeddings: Tensor) -> Tensor:
    """Unit image embeddings ``[P, V, E]`` and unit text embeddings ``[P, E]`` -> cosines ``[P, V, P]``."""
    if image_embeddings.dim() != 3 or text_embeddings.dim() != 2 or (
            image_embeddings.shape[0] != text_embeddings.shape[0]
            or image_embeddings.shape[2] != text_embeddings.shape[1]):
        raise ValueError(f"need image embeddings [P, V, E] and text embeddings [P, E], got "
                         f"{list(image_embeddings.shape)} and {list(text_embeddings.shape)}")
    return torch.einsum("pve,qe->pvq", image_embeddings, text_embeddings)


def render_turntable(mesh: Mesh, protocol: ViewProtocol, rasterizer: Rasterizer) -> Tensor:
    """The V protocol views of one mesh, ``[V, 3, H, W]`` in [0, 1] on white."""
    cameras = turntable(protocol.views, elevation=protocol.elevation, distance=protocol.distance, fov=protocol.fov)
    return render_views(mesh, cameras, protocol.resolution, rasterizer)


def clip_r_precision(
    meshes: Sequence[Mesh],
    prompt_set: PromptSet,
    scorer: CLIPScorer,
    rasterizer: Rasterizer,
    protocol: ViewProtocol = ViewProtocol(),
) -> dict:
    """Score one mesh per prompt of ``prompt_set`` (same order). Returns a JSON-ready dict::

        {"protocol": {...}, "clip": path, "summary": {split: {"count", "r_at_1", "r_at_5", "clip_similarity",
         "empty"}}, "per_prompt": [{"prompt", "split", "r_at_1", "r_at_5", "clip_similarity", "empty"}]}

    Splits: "all", plus "seen" (train) and "unseen" (test) when the set holds test prompts.
    """
    if len(meshes) != len(prompt_set):
        raise ValueError(f"got {len(meshes)} meshes for {len(prompt_set)} prompts; need one mesh per prompt")
    images = torch.stack([scorer.embed_images(render_turntable(mesh, protocol, rasterizer).cpu())
                          for mesh in meshes])  # [P, V, E]
    similarity = similarity_matrix(images, scorer.embed_texts(prompt_set.prompts))
    scores = {f"r_at_{k}": recall_at_k(similarity, k) for k in RECALL_AT}
    scores["clip_similarity"] = own_similarity(similarity)
    unseen = set(prompt_set.test)
    per_prompt = [
        {"prompt": prompt, "split": "unseen" if index in unseen else "seen",
         **{key: float(value[index]) for key, value in scores.items()}, "empty": bool(meshes[index].is_empty)}
        for index, prompt in enumerate(prompt_set.prompts)
    ]
    splits = {"all": list(range(len(prompt_set)))}
    if prompt_set.test:
        splits.update(seen=sorted(prompt_set.train), unseen=sorted(prompt_set.test))
    summary = {
        split: {"count": len(indices),
                **{key: float(value[indices].mean()) for key, value in scores.items()},
                "empty": sum(per_prompt[i]["empty"] for i in indices)}
        for split, indices in splits.items() if indices
    }
    return {"protocol": vars(protocol), "clip": scorer.path, "summary": summary, "per_prompt": per_prompt}


def format_table(results: dict) -> str:
    """A Markdown table of ``clip_r_precision`` results, one row per split."""
    lines = ["| split | prompts | CLIP R@1 | CLIP R@5 | CLIP similarity | empty meshes |", "|---|---|---|---|---|---|"]
    for split, row in results["summary"].items():
        lines.append(f"| {split} | {row['count']} | {row['r_at_1']:.3f} | {row['r_at_5']:.3f} | "
                     f"{row['clip_similarity']:.3f} | {row['empty']} |")
    return "\n".join(lines)
