"""Prompt augmentation's wording table: layout, the leak and ambiguity refusals, and the per-step draw."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from atom.prompts import PromptSet
from atom.prompts.wordings import PromptWordings, load_wordings_file


@pytest.fixture
def prompt_set() -> PromptSet:
    return PromptSet.from_list(["a red cube", "a blue sphere", "a green cone"], test=[2])


def test_texts_start_with_the_prompts_and_each_wording_knows_its_prompt(prompt_set):
    wordings = PromptWordings.build(prompt_set, {"a blue sphere": ["a navy globe", "A BLUE BALL"],
                                                 "a red cube": ["a ruby die"]})
    assert wordings.texts == ["a red cube", "a blue sphere", "a green cone", "a navy globe", "A BLUE BALL",
                              "a ruby die"]
    assert wordings.owner == [0, 1, 2, 1, 1, 0] and wordings.num_extra == 3
    assert wordings.alternatives == [[5], [3, 4], []]


@pytest.mark.parametrize("mapping, match", [
    ({"a green cone": ["a lime cone"]}, "held-out prompt 'a green cone'"),
    ({"a purple torus": ["a plum hoop"]}, "'a purple torus', which is not a prompt"),
    ({"a red cube": ["a blue sphere"]}, "'a blue sphere' of 'a red cube' is itself a prompt"),
    ({"a red cube": ["a box"], "a blue sphere": ["a box"]}, "'a box' is given twice"),
    ({"a red cube": ["  "]}, "a wording of 'a red cube' is empty"),
    ({"a red cube": "a ruby die"}, "must be a list of strings"),
])
def test_bad_wordings_are_refused_naming_them(prompt_set, mapping, match):
    with pytest.raises(ValueError, match=match):
        PromptWordings.build(prompt_set, mapping)


def test_the_draw_keeps_the_prompt_or_picks_one_of_its_own_wordings(prompt_set):
    wordings = PromptWordings.build(prompt_set, {"a blue sphere": ["a navy globe", "A BLUE BALL"],
                                                 "a red cube": ["a ruby die"]})
    prompt_ids = torch.tensor([0, 1, 1, 1] * 500)
    kept = wordings.sample(prompt_ids, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(kept, prompt_ids)
    swapped = wordings.sample(prompt_ids, 0.0, torch.Generator().manual_seed(0))
    assert all(wordings.owner[t] == p and t >= 3 for t, p in zip(swapped.tolist(), prompt_ids.tolist(), strict=True))
    counts = Counter(swapped.tolist())
    assert counts[5] == 500 and abs(counts[3] - counts[4]) < 150  # uniform over the sphere's two wordings
    half = wordings.sample(prompt_ids, 0.5, torch.Generator().manual_seed(1))
    assert 0.4 < (half == prompt_ids).float().mean() < 0.6
    # a prompt without wordings (here the held-out one) always reads itself; the draw is reproducible
    assert torch.equal(wordings.sample(torch.tensor([2, 2]), 0.0, torch.Generator()), torch.tensor([2, 2]))
    again = wordings.sample(prompt_ids, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(half, again)
    with pytest.raises(ValueError, match="keep_probability must be in"):
        wordings.sample(prompt_ids, 1.5, torch.Generator())


def test_wordings_file_round_trip_and_errors(prompt_set, tmp_path):
    path = tmp_path / "wordings.json"
    path.write_text(json.dumps({"a red cube": ["a ruby die"]}))
    assert PromptWordings.build(prompt_set, load_wordings_file(path)).texts[-1] == "a ruby die"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_wordings_file(tmp_path / "missing.json")
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_wordings_file(path)
    path.write_text(json.dumps(["a ruby die"]))
    with pytest.raises(ValueError, match="must hold a JSON object"):
        load_wordings_file(path)
