"""A set of prompts with a train/test split: a list, a file (DF415), or a compositional grid (Pig64, Toy64).

Amortized training sees only the train prompts; the test prompts measure generalisation to unseen
text (for grids, unseen combinations of seen words, as Pig64's held-out diagonal in AToM).
"""

from __future__ import annotations

import itertools
import logging
import random
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

HOLDOUTS = ("diagonal", "none")


@dataclass
class PromptSet:
    """Prompts and the indices of the train and test prompts among them (disjoint, each in range)."""

    prompts: list[str]
    train: list[int]
    test: list[int]
    name: str = "prompts"

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError(f"prompt set {self.name!r} has no prompts")
        for index, prompt in enumerate(self.prompts):
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"prompt {index} of {self.name!r} is empty or not a string: {prompt!r}")
        duplicates = sorted(p for p, count in Counter(self.prompts).items() if count > 1)
        if duplicates:
            raise ValueError(f"prompt set {self.name!r} repeats prompts: {duplicates}")
        for split, indices in (("train", self.train), ("test", self.test)):
            wrong = [i for i in indices if not 0 <= i < len(self.prompts)]
            if wrong:
                raise ValueError(f"{split} indices must be in [0, {len(self.prompts)}), got {wrong}")
            if len(set(indices)) != len(indices):
                raise ValueError(f"{split} indices repeat: {indices}")
        overlap = sorted(set(self.train) & set(self.test))
        if overlap:
            raise ValueError(f"indices {overlap} are both train and test")

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def train_prompts(self) -> list[str]:
        return [self.prompts[i] for i in self.train]

    @property
    def test_prompts(self) -> list[str]:
        return [self.prompts[i] for i in self.test]

    @classmethod
    def from_list(
        cls,
        prompts: Sequence[str],
        test_fraction: float = 0.0,
        test: Sequence[int] | None = None,
        name: str = "prompts",
        seed: int = 0,
    ) -> PromptSet:
        """Prompts with either `test` (explicit test indices) or a seeded random `test_fraction` held out;
        all others are train."""
        prompts = list(prompts)
        if test is not None and test_fraction:
            raise ValueError(f"give test indices or test_fraction, not both (test_fraction={test_fraction})")
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
        if test is None:
            test = random.Random(seed).sample(range(len(prompts)), round(test_fraction * len(prompts)))
        test = sorted(test)
        held_out = set(test)
        train = [i for i in range(len(prompts)) if i not in held_out]
        return cls(prompts=prompts, train=train, test=test, name=name)

    @classmethod
    def from_file(cls, path: str | Path, test_fraction: float = 0.0, seed: int = 0) -> PromptSet:
        """One prompt per line (stripped). Blank lines are skipped and repeated prompts kept once, each
        with one warning; the set is named after the file's stem."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prompt file not found: {path}")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        blank = [number for number, line in enumerate(lines, start=1) if not line]
        prompts = [line for line in lines if line]
        if not prompts:
            raise ValueError(f"prompt file {path} holds no prompts")
        if blank:
            logger.warning("prompt file %s: skipped blank line(s) %s", path, blank)
        repeated = sorted(p for p, count in Counter(prompts).items() if count > 1)
        if repeated:
            logger.warning("prompt file %s: repeated prompt(s) kept once: %s", path, repeated)
        return cls.from_list(
            list(dict.fromkeys(prompts)), test_fraction=test_fraction, name=path.stem, seed=seed
        )

    @classmethod
    def from_grid(
        cls, template: str, slots: dict[str, Sequence[str]], holdout: str = "diagonal", name: str = "grid"
    ) -> PromptSet:
        """Every combination of slot values in `template`, e.g. "a {color} {shape}" with K colors and
        K shapes gives K*K prompts, ordered with the template's first slot outermost.

        holdout "diagonal" tests the combinations whose slot indices are all equal (needs >= 2 slots of
        equal length: K held out); "none" tests nothing.
        """
        if holdout not in HOLDOUTS:
            raise ValueError(f"holdout must be one of {HOLDOUTS}, got {holdout!r}")
        fields = list(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(template) if f is not None))
        if any(not field.isidentifier() for field in fields):
            raise ValueError(f"template slots must be named like {{color}}, got {fields} in {template!r}")
        if set(fields) != set(slots):
            raise ValueError(
                f"template {template!r} has slots {sorted(fields)}, but slots {sorted(slots)} given"
            )
        for field in fields:
            values = list(slots[field])
            if not values or len(set(values)) != len(values):
                raise ValueError(f"slot {field!r} needs distinct values, got {values}")
        sizes = [len(slots[field]) for field in fields]
        if holdout == "diagonal" and (len(fields) < 2 or len(set(sizes)) != 1):
            raise ValueError(
                f"holdout='diagonal' needs >= 2 slots of equal length, got {dict(zip(fields, sizes))}"
            )
        combinations = list(itertools.product(*(range(size) for size in sizes)))
        prompts = [
            template.format(**{field: slots[field][i] for field, i in zip(fields, combo)})
            for combo in combinations
        ]
        test = [n for n, combo in enumerate(combinations) if holdout == "diagonal" and len(set(combo)) == 1]
        return cls.from_list(prompts, test=test, name=name)
