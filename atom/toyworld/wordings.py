"""Training wordings of the Toy64 prompts (prompt augmentation, `atom.prompts.wordings`).

Each train object gets other wordings built from its own color and shape word or one of two synonyms, in four
templates (plain, capitalised with a full stop, an extra adjective, a sentence around it): up to 35 per object.
Every synonym, adjective and sentence here differs from the held-out paraphrase set's
(`atom.toyworld.paraphrases`), so scoring the paraphrases still measures wordings the training never saw (the
tests check the two lists share no word that is not a Toy64 word or an article). Held-out (diagonal) objects
get none.
"""

from __future__ import annotations

import itertools

from atom.toyworld.shapes import toy64, toy64_split

TRAINING_COLOR_SYNONYMS: dict[str, tuple[str, str]] = {
    "red": ("ruby", "cherry-red"),
    "green": ("lime", "jade"),
    "blue": ("navy", "sapphire"),
    "yellow": ("canary", "mustard"),
    "purple": ("plum", "lavender"),
    "brown": ("coffee", "chestnut"),
    "pink": ("fuchsia", "blush"),
    "cyan": ("teal", "cyan-blue"),
}
TRAINING_SHAPE_SYNONYMS: dict[str, tuple[str, str]] = {
    "sphere": ("globe", "marble"),
    "cube": ("die", "cuboid"),
    "cylinder": ("drum", "tin"),
    "cone": ("traffic cone", "pointed cone"),
    "torus": ("hoop", "bagel"),
    "capsule": ("rounded rod", "gel cap"),
    "pyramid": ("egyptian pyramid", "pointed pyramid"),
    "octahedron": ("bipyramid", "eight-faced solid"),
}
TRAINING_TEMPLATES: tuple[str, ...] = (
    "a {color} {shape}",
    "The {Color} {Shape}.",
    "a large {color} {shape}",
    "there is a {color} {shape} here",
)


def _title(words: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in words.split())


def toy64_training_wordings() -> dict[str, list[str]]:
    """``{train prompt: [other wordings]}`` for the 56 train objects (see the module docstring)."""
    train, _ = toy64_split()
    objects = toy64()
    wordings: dict[str, list[str]] = {}
    for index in train:
        obj = objects[index]
        colors = (obj.color.name, *TRAINING_COLOR_SYNONYMS[obj.color.name])
        shapes = (obj.shape.name, *TRAINING_SHAPE_SYNONYMS[obj.shape.name])
        texts = [template.format(color=c, shape=s, Color=_title(c), Shape=_title(s))
                 for template, c, s in itertools.product(TRAINING_TEMPLATES, colors, shapes)]
        wordings[obj.prompt] = [text for text in texts if text != obj.prompt]
    return wordings
