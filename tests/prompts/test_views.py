"""View suffixes and the per-prompt, per-view embedding table."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from atom.prompts.views import SECTORS8, VIEWS, ViewDependentEmbeddings, view_prompt
from atom.testing.tiny_text import build_tiny_clip, build_tiny_t5
from atom.text.cache import EmbeddingCache
from atom.text.clip import CLIPTextEncoder
from atom.text.encoder import TextEmbeddings
from atom.text.t5 import T5TextEncoder

PROMPTS = ["a red cube", "a blue sphere", "a pig wearing a hat"]


@pytest.fixture(scope="module")
def t5(tmp_path_factory: pytest.TempPathFactory) -> T5TextEncoder:
    return T5TextEncoder(path=str(build_tiny_t5(tmp_path_factory.mktemp("t5"))))


@pytest.fixture(scope="module")
def table(t5: T5TextEncoder) -> ViewDependentEmbeddings:
    return ViewDependentEmbeddings.build(t5, PROMPTS, negative_prompt="blurry")


def test_view_prompt() -> None:
    assert VIEWS == ("front", "side", "back", "overhead", "front-right", "right", "back-right", "back-left",
                     "left", "front-left")
    assert view_prompt("a red cube", "front") == "a red cube, front view"
    assert view_prompt("a red cube", "front-right") == "a red cube, front-right view"
    assert view_prompt("a red cube", "overhead") == "a red cube, overhead view"
    with pytest.raises(ValueError, match="'top'"):
        view_prompt("a red cube", "top")


def test_lookup_picks_the_right_rows(t5: T5TextEncoder, table: ViewDependentEmbeddings) -> None:
    assert table.tokens.shape == (3, 4, 77, 32) and table.mask.shape == (3, 4, 77)
    assert table.uncond.tokens.shape == (1, 77, 32) and table.pooled is None
    assert (len(table), table.length, table.dim) == (3, 77, 32)
    indices = torch.tensor([2, 0, 0, 1])
    views = ["back", "front", "overhead", "side"]
    cond, uncond = table.lookup(indices, views)
    expected = t5.encode([view_prompt(PROMPTS[i], view) for i, view in zip(indices.tolist(), views)])
    assert torch.allclose(cond.tokens, expected.tokens, atol=1e-6)
    assert torch.equal(cond.mask, expected.mask)
    negative = t5.encode(["blurry"])
    assert uncond.tokens.shape == (4, 77, 32)
    assert torch.allclose(uncond.tokens, negative.tokens.expand(4, -1, -1), atol=1e-6)
    # Different views of one prompt really are different rows.
    assert not torch.allclose(cond.tokens[1], cond.tokens[2])


def test_lookup_rejects_bad_input(table: ViewDependentEmbeddings) -> None:
    with pytest.raises(ValueError, match="'top'"):
        table.lookup(torch.tensor([0]), ["top"])
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        table.lookup(torch.tensor([3]), ["front"])
    with pytest.raises(ValueError, match="len\\(views\\)"):
        table.lookup(torch.tensor([0, 1]), ["front"])


def test_save_load_round_trip(tmp_path: Path, table: ViewDependentEmbeddings) -> None:
    loaded = ViewDependentEmbeddings.load(table.save(tmp_path / "views"))
    assert (
        loaded.prompts == PROMPTS and loaded.negative_prompt == "blurry" and loaded.identity == table.identity
    )
    assert torch.equal(loaded.tokens, table.tokens) and torch.equal(loaded.mask, table.mask)
    assert torch.equal(loaded.uncond.tokens, table.uncond.tokens)
    with pytest.raises(FileNotFoundError, match="not found"):
        ViewDependentEmbeddings.load(tmp_path)


def test_sectors8_table_has_its_own_views(t5: T5TextEncoder, tmp_path: Path) -> None:
    table = ViewDependentEmbeddings.build(t5, PROMPTS[:2], scheme=SECTORS8)
    assert table.tokens.shape[:2] == (2, 9) and table.scheme is SECTORS8
    cond, _ = table.lookup(torch.tensor([1, 0]), ["front-right", "back-left"])
    expected = t5.encode(["a blue sphere, front-right view", "a red cube, back-left view"])
    assert torch.allclose(cond.tokens, expected.tokens, atol=1e-6)
    with pytest.raises(ValueError, match="'side'.*|sectors8"):  # a DreamFusion label is not one of its views
        table.lookup(torch.tensor([0]), ["side"])
    loaded = ViewDependentEmbeddings.load(table.save(tmp_path / "views8"))
    assert loaded.scheme is SECTORS8 and torch.equal(loaded.tokens, table.tokens)


def test_build_through_cache_and_from_cache(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    clip = CLIPTextEncoder(path=str(build_tiny_clip(tmp_path_factory.mktemp("clip"))))
    cache = EmbeddingCache(tmp_path)
    built = ViewDependentEmbeddings.build(clip, PROMPTS[:2], cache=cache)  # negative prompt ""
    assert built.pooled.shape == (2, 4, 32) and built.uncond.pooled.shape == (1, 32)
    assert (clip.identity, "") in cache and (clip.identity, "a blue sphere, back view") in cache
    again = ViewDependentEmbeddings.from_cache(cache, clip.identity, PROMPTS[:2])
    assert torch.equal(again.tokens, built.tokens) and torch.equal(again.pooled, built.pooled)
    cond, uncond = again.lookup(torch.tensor([1]), ["back"])
    assert torch.allclose(cond.pooled, clip.encode(["a blue sphere, back view"]).pooled, atol=1e-6)
    assert torch.equal(uncond.mask, clip.encode([""], allow_empty=True).mask)


def test_to_and_shape_checks(table: ViewDependentEmbeddings) -> None:
    moved = table.to("cpu", dtype=torch.float64)
    assert moved.tokens.dtype == torch.float64 and moved.mask.dtype == torch.bool
    assert moved.uncond.tokens.dtype == torch.float64
    with pytest.raises(ValueError, match=r"\[P, V, L, D\]"):
        ViewDependentEmbeddings(
            prompts=["a"],
            tokens=torch.zeros(1, 3, 5, 2),
            mask=torch.ones(1, 3, 5, dtype=torch.bool),
            pooled=None,
            uncond=TextEmbeddings(tokens=torch.zeros(1, 5, 2), mask=torch.ones(1, 5, dtype=torch.bool)),
            identity="x",
        )
