"""TextEmbeddings: shape checks, prompt selection, concatenation with padding."""

from __future__ import annotations

import pytest
import torch

from atom.text.encoder import TextEmbeddings


def make(batch: int, length: int, dim: int = 4, pooled: bool = True) -> TextEmbeddings:
    tokens = torch.randn(batch, length, dim)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    mask[:, : max(1, length // 2)] = True
    return TextEmbeddings(tokens=tokens, mask=mask, pooled=torch.randn(batch, dim) if pooled else None)


def test_getitem_selects_rows_and_keeps_batch_axis() -> None:
    emb = make(5, 6)
    one = emb[2]
    assert one.tokens.shape == (1, 6, 4)
    assert torch.equal(one.tokens[0], emb.tokens[2]) and torch.equal(one.pooled[0], emb.pooled[2])
    last = emb[-1]
    assert torch.equal(last.mask[0], emb.mask[4])
    picked = emb[torch.tensor([4, 0, 4])]
    assert torch.equal(picked.tokens, emb.tokens[[4, 0, 4]])
    assert torch.equal(emb[[1, 3]].mask, emb.mask[[1, 3]])
    assert len(emb[1:3]) == 2


def test_cat_pads_shorter_sequences() -> None:
    short, long = make(2, 3), make(1, 5)
    both = TextEmbeddings.cat([short, long])
    assert both.tokens.shape == (3, 5, 4) and both.mask.shape == (3, 5)
    assert torch.equal(both.tokens[:2, :3], short.tokens)
    assert torch.equal(both.tokens[:2, 3:], torch.zeros(2, 2, 4))
    assert not both.mask[:2, 3:].any()
    assert torch.equal(both.tokens[2], long.tokens[0]) and torch.equal(both.mask[2], long.mask[0])
    assert torch.equal(both.pooled, torch.cat([short.pooled, long.pooled]))


def test_cat_rejects_mixed_inputs() -> None:
    with pytest.raises(ValueError, match="empty"):
        TextEmbeddings.cat([])
    with pytest.raises(ValueError, match="pooled"):
        TextEmbeddings.cat([make(1, 3), make(1, 3, pooled=False)])
    with pytest.raises(ValueError, match="widths"):
        TextEmbeddings.cat([make(1, 3, dim=4), make(1, 3, dim=8)])


def test_shape_validation_names_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[B, L, D\].*\[2, 3\]"):
        TextEmbeddings(tokens=torch.zeros(2, 3), mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be bool"):
        TextEmbeddings(tokens=torch.zeros(2, 3, 4), mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="pooled"):
        TextEmbeddings(
            tokens=torch.zeros(2, 3, 4), mask=torch.ones(2, 3, dtype=torch.bool), pooled=torch.zeros(2, 5)
        )


def test_to_converts_floats_not_mask() -> None:
    emb = make(2, 3).to("cpu", dtype=torch.float64)
    assert emb.tokens.dtype == torch.float64 and emb.pooled.dtype == torch.float64
    assert emb.mask.dtype == torch.bool
