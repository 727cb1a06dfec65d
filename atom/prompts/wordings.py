"""Other wordings of the training prompts: prompt augmentation for amortized training.

An amortized generator that only ever reads ``"a red cube"`` learns that exact sentence; a user writes "a
crimson box" or "A RED CUBE!". Prompt augmentation gives each training prompt a list of other wordings of the
same object. At every step the generator reads, for each drawn prompt, its own wording with probability
``keep_probability`` and otherwise one of its other wordings (uniformly), while the score-distillation target
keeps the prompt's own view-dependent text: the diffusion prior was trained on (or simply knows) the original
wording, and the point is that every wording maps to the same object.

Only train prompts may have wordings (a wording of a held-out prompt would leak it into training), and no
wording may be a prompt of the set (it would stand for two objects). Texts are laid out as
``[prompts..., extra wordings...]``: text ``i < len(prompts)`` is prompt ``i`` itself, so the default (no
wordings) indexes exactly as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor

from atom.prompts.prompt_set import PromptSet

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptWordings:
    """The texts a generator may read for each prompt of a set.

    texts: the prompts themselves, then every extra wording; owner[k]: the prompt index that text k words.
    """

    texts: list[str]
    owner: list[int]
    num_prompts: int

    @classmethod
    def build(cls, prompt_set: PromptSet, wordings: Mapping[str, Sequence[str]]) -> PromptWordings:
        """``wordings`` maps a train prompt to its other wordings; errors name the offending prompt/wording."""
        index = {prompt: i for i, prompt in enumerate(prompt_set.prompts)}
        train = set(prompt_set.train)
        texts, owner = list(prompt_set.prompts), list(range(len(prompt_set.prompts)))
        seen: dict[str, str] = {}
        for prompt, alternatives in wordings.items():
            if prompt not in index:
                raise ValueError(f"wordings given for {prompt!r}, which is not a prompt of {prompt_set.name!r}")
            if index[prompt] not in train:
                raise ValueError(f"wordings given for the held-out prompt {prompt!r}: only train prompts may have "
                                 "them (they would leak a held-out prompt into training)")
            if isinstance(alternatives, str):
                raise ValueError(f"the wordings of {prompt!r} must be a list of strings, got the string "
                                 f"{alternatives!r}")
            for wording in alternatives:
                if not isinstance(wording, str) or not wording.strip():
                    raise ValueError(f"a wording of {prompt!r} is empty or not a string: {wording!r}")
                if wording in index:
                    raise ValueError(f"the wording {wording!r} of {prompt!r} is itself a prompt of the set")
                if wording in seen:
                    raise ValueError(f"the wording {wording!r} is given twice (for {seen[wording]!r} and {prompt!r})")
                seen[wording] = prompt
                texts.append(wording)
                owner.append(index[prompt])
        return cls(texts, owner, len(prompt_set.prompts))

    @property
    def num_extra(self) -> int:
        return len(self.texts) - self.num_prompts

    @cached_property
    def alternatives(self) -> list[list[int]]:
        """For each prompt, the text indices of its extra wordings (empty for held-out and no-wording prompts);
        built once, read at every step."""
        table: list[list[int]] = [[] for _ in range(self.num_prompts)]
        for text_id in range(self.num_prompts, len(self.texts)):
            table[self.owner[text_id]].append(text_id)
        return table

    def sample(self, prompt_ids: Tensor, keep_probability: float, generator: torch.Generator) -> Tensor:
        """Text ids ``[B]`` for ``prompt_ids [B]``: the prompt itself with ``keep_probability``, else one of its
        extra wordings uniformly (the prompt itself when it has none). Draws from ``generator`` (the loop RNG,
        so a resumed run draws the same wordings)."""
        if not 0.0 <= keep_probability <= 1.0:
            raise ValueError(f"keep_probability must be in [0, 1], got {keep_probability}")
        table = self.alternatives
        coins = torch.rand(len(prompt_ids), generator=generator)
        picks = torch.rand(len(prompt_ids), generator=generator)
        text_ids = []
        for prompt_id, coin, pick in zip(prompt_ids.tolist(), coins.tolist(), picks.tolist(), strict=True):
            options = table[prompt_id]
            text_ids.append(prompt_id if coin < keep_probability or not options
                            else options[min(int(pick * len(options)), len(options) - 1)])
        return torch.tensor(text_ids, dtype=torch.long, device=prompt_ids.device)


def load_wordings_file(path: str | Path) -> dict[str, list[str]]:
    """A JSON object ``{"<train prompt>": ["<wording>", ...], ...}``; errors name the file and what is wrong."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"prompts.wordings_file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"prompts.wordings_file {str(path)!r} is not valid JSON: {error}") from error
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"prompts.wordings_file {str(path)!r} must hold a JSON object mapping each prompt to a "
                         "list of wordings")
    return data
