"""CLIP R-precision with tiny CLIP models built offline: known answers, chance, and the model's own forward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import trimesh
from transformers import CLIPModel, CLIPProcessor

from atom.evaluation import (
    CLIPLoadError,
    CLIPScorer,
    ViewProtocol,
    clip_r_precision,
    format_table,
    recall_at_k,
    render_turntable,
    similarity_matrix,
)
from atom.geometry import Mesh
from atom.prompts import PromptSet
from atom.render import make_rasterizer
from atom.render.images import to_pil
from atom.testing.tiny_clip import IMAGE_SIZE, PROBE_COLORS, build_color_probe_clip, build_tiny_clip_model

PROTOCOL = ViewProtocol(resolution=IMAGE_SIZE)  # 8 views, rendered at CLIP's input size (no resampling)


@pytest.fixture(scope="module")
def clip_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clip")
    return {"probe": build_color_probe_clip(root / "probe"),
            "blind": build_color_probe_clip(root / "blind", blind=True),
            "random": build_tiny_clip_model(root / "random")}


@pytest.fixture(scope="module")
def colored_spheres() -> list[Mesh]:
    """One sphere per probe color (green, blue, red), flat vertex colors."""
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.6)
    vertices = torch.tensor(sphere.vertices, dtype=torch.float32)
    faces = torch.tensor(sphere.faces)
    return [Mesh(vertices, faces, torch.tensor(rgb).expand(len(vertices), 3).clone()) for rgb in PROBE_COLORS.values()]


def sphere_prompts(colors: list[str], test: list[int] | None = None) -> PromptSet:
    return PromptSet.from_list([f"a {color} sphere" for color in colors], test=test)


def test_recall_at_k_on_a_hand_built_similarity() -> None:
    # 6 prompts, 2 views. View 0 of prompt p ranks its own text at position p (0-based): R@1 hit only for p = 0,
    # R@5 hits for p < 5. View 1 ties its own text with every other text: expected hit k / 6.
    prompts = 6
    similarity = torch.zeros(prompts, 2, prompts)
    for p in range(prompts):
        others = [q for q in range(prompts) if q != p]
        order = others[:p] + [p] + others[p:]  # most similar first
        for rank, q in enumerate(order):
            similarity[p, 0, q] = 1.0 - 0.1 * rank
    r1, r5 = recall_at_k(similarity, 1), recall_at_k(similarity, 5)
    assert torch.allclose(r1, torch.tensor([1.0, 0, 0, 0, 0, 0], dtype=torch.float64) / 2 + 1 / 12)
    assert torch.allclose(r5, torch.tensor([1.0, 1, 1, 1, 1, 0], dtype=torch.float64) / 2 + 5 / 12)
    # one rival strictly above and two tied: R@2 = (2 - 1) / (2 + 1)
    tied = torch.tensor([[[0.5, 0.9, 0.5, 0.5, 0.1]]]).expand(5, 1, 5).clone()
    tied[torch.arange(5), 0, torch.arange(5)] = 0.5
    assert recall_at_k(tied, 2)[0].item() == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match=r"\[P, V, P\]"):
        recall_at_k(torch.zeros(3, 2, 4), 1)


def test_probe_clip_retrieves_every_view_and_shuffled_texts_none(clip_models, colored_spheres) -> None:
    rasterizer = make_rasterizer("torch")
    scorer = CLIPScorer(clip_models["probe"])
    colors = list(PROBE_COLORS)
    results = clip_r_precision(colored_spheres, sphere_prompts(colors, test=[2]), scorer, rasterizer, PROTOCOL)
    assert set(results["summary"]) == {"all", "seen", "unseen"}
    for split in results["summary"].values():
        assert split["r_at_1"] == 1.0 and split["r_at_5"] == 1.0 and split["empty"] == 0
    assert [row["split"] for row in results["per_prompt"]] == ["seen", "seen", "unseen"]
    # texts rotated by one: no mesh sits next to its own color word, so no view can retrieve it
    rotated = sphere_prompts(colors[1:] + colors[:1])
    shuffled = clip_r_precision(colored_spheres, rotated, scorer, rasterizer, PROTOCOL)
    assert set(shuffled["summary"]) == {"all"}
    assert shuffled["summary"]["all"]["r_at_1"] == 0.0
    assert shuffled["summary"]["all"]["clip_similarity"] < results["summary"]["all"]["clip_similarity"]
    assert "| all | 3 | 0.000 |" in format_table(shuffled)


def test_blind_clip_scores_exactly_chance(clip_models, colored_spheres) -> None:
    results = clip_r_precision(colored_spheres, sphere_prompts(list(PROBE_COLORS)), CLIPScorer(clip_models["blind"]),
                               make_rasterizer("torch"), PROTOCOL)
    summary = results["summary"]["all"]
    assert summary["r_at_1"] == pytest.approx(1 / 3, abs=1e-12)
    assert summary["r_at_5"] == 1.0 and summary["clip_similarity"] == 0.0


def test_similarities_match_clip_models_own_forward(clip_models, colored_spheres) -> None:
    path = clip_models["random"]
    scorer = CLIPScorer(path)
    prompts = ["a red cube", "a blue sphere", "a photo of a green torus"]
    renders = torch.stack([render_turntable(mesh, ViewProtocol(views=2, resolution=48), make_rasterizer("torch"))
                           for mesh in colored_spheres])  # [3, 2, 3, 48, 48], resized to 32 by the processor
    ours = similarity_matrix(scorer.embed_images(renders.flatten(0, 1)).unflatten(0, (3, 2)),
                             scorer.embed_texts(prompts))
    model, processor = CLIPModel.from_pretrained(path).eval(), CLIPProcessor.from_pretrained(path)
    inputs = processor(text=prompts, images=[to_pil(image) for image in renders.flatten(0, 1)], return_tensors="pt",
                       padding=True)
    with torch.no_grad():
        logits = model(**inputs).logits_per_image  # [6, 3] = exp(logit_scale) * cosine
    reference = (logits / model.logit_scale.exp()).unflatten(0, (3, 2))
    assert torch.allclose(ours, reference, atol=1e-5)
    assert ours.std() > 1e-3  # not a degenerate model


def test_missing_or_wrong_clip_path_says_where_it_looked(tmp_path) -> None:
    with pytest.raises(CLIPLoadError, match=r"clip\.path=<CLIP model folder or hub id>"):
        CLIPScorer(None)
    missing = tmp_path / "no_clip_here"
    missing.mkdir()
    with pytest.raises(CLIPLoadError, match="no_clip_here") as info:
        CLIPScorer(missing)
    assert "clip.path=/path/to/clip" in str(info.value)


def test_one_mesh_per_prompt_is_required(clip_models, colored_spheres) -> None:
    with pytest.raises(ValueError, match="one mesh per prompt"):
        clip_r_precision(colored_spheres[:2], sphere_prompts(list(PROBE_COLORS)), CLIPScorer(clip_models["probe"]),
                         make_rasterizer("torch"), PROTOCOL)
