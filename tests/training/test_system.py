"""AToM's training system on tiny models: no text encoder once every prompt is cached, NeuS's cosine annealing
driven by the step, and the trainer's view of a system limited to its interface."""

from __future__ import annotations

import pytest

from atom.training import atom_system
from atom.training.atom_system import AToMSystem
from atom.training.build import build_trainer


def test_cached_prompts_need_no_text_encoder(tiny_config, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cfg = tiny_config(tmp_path / "run", f"embedding_cache={cache}")
    first = build_trainer(cfg, tmp_path / "run")  # builds the encoder once and fills the cache

    def refuse(*args, **kwargs):
        raise AssertionError("the text encoder was built although every prompt is cached")

    monkeypatch.setattr(atom_system, "build_text_encoder", refuse)
    second = build_trainer(tiny_config(tmp_path / "run2", f"embedding_cache={cache}"), tmp_path / "run2")
    assert (second.system.text.tokens == first.system.text.tokens).all()
    assert (second.system.view_embeddings.tokens == first.system.view_embeddings.tokens).all()
    # a prompt missing from the cache does need the encoder
    with pytest.raises(AssertionError, match="text encoder was built"):
        build_trainer(tiny_config(tmp_path / "run3", f"embedding_cache={cache}",
                                  "prompts.test_prompts=[a purple cone]"), tmp_path / "run3")


@pytest.mark.parametrize("anneal_steps, expected", [(0, [1.0, 1.0, 1.0]), (4, [0.0, 0.25, 0.5])])
def test_cos_anneal_ratio_follows_the_step(tiny_config, tmp_path, anneal_steps, expected):
    trainer = build_trainer(tiny_config(tmp_path / "run", f"stage1.cos_anneal_steps={anneal_steps}",
                                        "trainer.max_steps=3"), tmp_path / "run")
    ratios = []
    for _ in range(3):
        ratios.append(trainer.train_step().metrics["train/cos_anneal_ratio"])
        trainer.step += 1
    assert ratios == expected
    assert isinstance(trainer.system, AToMSystem)
