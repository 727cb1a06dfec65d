"""Toy64 prompts worded differently from the training prompts: a held-out paraphrase set (issue 13 item 5).

Training sees only ``"a {color} {shape}"``. AToM's promise is that other wordings of the same object work
too, so each of the 64 objects gets one paraphrase that the training never sees, built from four kinds of
change, cycled over the objects so that every kind meets every shape and color:

1. a synonym of the color (``red -> crimson``) and of the shape (``cube -> box``);
2. different case and punctuation (``"A RED CUBE!"``);
3. an extra adjective (``"a small crimson box"``);
4. a sentence around it (``"a 3d model of the crimson box"``).

Object ``8 i + j`` (shape ``i``, color ``j``, as in :func:`~atom.toyworld.shapes.toy64`) uses template
``(i + j) mod 4``, synonym ``(i + j // 4) mod 2`` of its color and ``(j + i // 4) mod 2`` of its shape, so each
shape and each color meets every template and both of its synonyms. The list is fixed (no randomness), so
scores on it compare across runs. No paraphrase normalises to a Toy64 prompt
(:func:`~atom.toyworld.shapes.normalise_prompt`), which the tests check.
"""

from __future__ import annotations

from atom.toyworld.shapes import COLORS, SHAPES, ToyObject, toy64

COLOR_SYNONYMS: dict[str, tuple[str, str]] = {
    "red": ("crimson", "scarlet"),
    "green": ("emerald", "leaf-green"),
    "blue": ("azure", "cobalt"),
    "yellow": ("golden", "lemon"),
    "purple": ("violet", "lilac"),
    "brown": ("chocolate", "rust-brown"),
    "pink": ("rose", "salmon-pink"),
    "cyan": ("turquoise", "aqua"),
}
SHAPE_SYNONYMS: dict[str, tuple[str, str]] = {
    "sphere": ("ball", "orb"),
    "cube": ("box", "block"),
    "cylinder": ("disc", "puck"),
    "cone": ("cone shape", "conical object"),
    "torus": ("ring", "donut"),
    "capsule": ("pill", "lozenge"),
    "pyramid": ("square pyramid", "pyramid shape"),
    "octahedron": ("diamond", "double pyramid"),
}
TEMPLATES: tuple[str, ...] = (
    "a {color} {shape}",
    "A {COLOR} {SHAPE}!",
    "a small {color} {shape}",
    "a 3d model of the {color} {shape}",
)


def paraphrase(obj: ToyObject, index: int) -> str:
    """The held-out wording of ``obj``, the ``index``-th Toy64 object (see the module docstring)."""
    i, j = divmod(index, len(COLORS))
    color = COLOR_SYNONYMS[obj.color.name][(i + j // 4) % 2]
    shape = SHAPE_SYNONYMS[obj.shape.name][(j + i // 4) % 2]
    template = TEMPLATES[(i + j) % len(TEMPLATES)]
    return template.format(color=color, shape=shape, COLOR=color.upper(), SHAPE=shape.upper())


def toy64_paraphrases() -> dict[str, ToyObject]:
    """The 64 paraphrases, each mapped to the object it describes (in :func:`toy64` order)."""
    if set(COLOR_SYNONYMS) != {c.name for c in COLORS} or set(SHAPE_SYNONYMS) != {s.name for s in SHAPES}:
        raise RuntimeError("the synonym tables must name every Toy64 color and shape")
    return {paraphrase(obj, index): obj for index, obj in enumerate(toy64())}
