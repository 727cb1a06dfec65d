"""The toy world's training wordings: train objects only, and no word of the held-out paraphrases."""

from __future__ import annotations

import re

from atom.toyworld.paraphrases import toy64_paraphrases
from atom.toyworld.shapes import COLORS, SHAPES, find_object, toy64, toy64_split
from atom.toyworld.wordings import toy64_training_wordings


def _words(texts) -> set[str]:
    return {word for text in texts for word in re.findall(r"[a-z0-9]+", text.lower())}


def test_only_train_objects_get_wordings_and_each_names_its_own_object():
    train, test = toy64_split()
    objects = toy64()
    wordings = toy64_training_wordings()
    assert set(wordings) == {objects[i].prompt for i in train}
    assert not set(wordings) & {objects[i].prompt for i in test}
    for prompt, texts in wordings.items():
        assert len(texts) == 35 and len(set(texts)) == 35 and prompt not in texts
        obj = find_object(prompt)
        assert any(obj.color.name in t for t in texts) and any(obj.shape.name in t for t in texts)
        # no wording is read as another Toy64 prompt
        assert all(find_object(t) in (None, obj) for t in texts)


def test_the_held_out_paraphrases_keep_words_the_training_never_sees():
    toy_words = _words([c.name for c in COLORS] + [s.name for s in SHAPES] + ["a", "the"])
    training = _words(t for texts in toy64_training_wordings().values() for t in texts) - toy_words
    held_out = _words(toy64_paraphrases()) - toy_words
    assert training and held_out
    assert not training & held_out, sorted(training & held_out)
    assert not set(toy64_paraphrases()) & {t for texts in toy64_training_wordings().values() for t in texts}
