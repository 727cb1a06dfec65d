"""PromptSet: lists, files (DF415), grids with a held-out diagonal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from atom.prompts.prompt_set import PromptSet

DF415 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "df415.txt"
COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "white", "black"]
SHAPES = ["cube", "sphere", "cone", "cylinder", "torus", "pyramid", "capsule", "ring"]


@pytest.mark.skipif(not DF415.is_file(), reason=f"{DF415} not present")
def test_df415_has_415_prompts() -> None:
    prompts = PromptSet.from_file(DF415)
    assert len(prompts) == 415 and len(set(prompts.prompts)) == 415
    assert prompts.name == "df415" and prompts.train == list(range(415)) and prompts.test == []
    assert prompts.prompts[0] == DF415.read_text(encoding="utf-8").splitlines()[0].strip()


def test_grid_8x8_holds_out_the_diagonal() -> None:
    grid = PromptSet.from_grid("a {color} {shape}", {"color": COLORS, "shape": SHAPES}, name="toy64")
    assert len(grid) == 64 and len(grid.train) == 56 and len(grid.test) == 8
    assert grid.test_prompts == [f"a {color} {shape}" for color, shape in zip(COLORS, SHAPES)]
    assert "a red sphere" in grid.train_prompts and "a red cube" not in grid.train_prompts
    assert sorted(grid.train + grid.test) == list(range(64))
    # The template's first slot is the outer loop, whatever order the dict has.
    swapped = PromptSet.from_grid("a {color} {shape}", {"shape": SHAPES, "color": COLORS})
    assert swapped.prompts == grid.prompts and swapped.prompts[1] == "a red sphere"


def test_grid_without_holdout_and_three_slots() -> None:
    grid = PromptSet.from_grid(
        "a pig {activity} {theme}", {"activity": ["x", "y"], "theme": ["p", "q"]}, "none"
    )
    assert grid.prompts == ["a pig x p", "a pig x q", "a pig y p", "a pig y q"] and grid.test == []
    cube = PromptSet.from_grid("{a}{b}{c}", {"a": ["1", "2"], "b": ["1", "2"], "c": ["1", "2"]})
    assert cube.test_prompts == ["111", "222"]


@pytest.mark.parametrize(
    ("template", "slots", "holdout", "message"),
    [
        ("a {color} {shape}", {"color": ["red"], "shape": ["cube"]}, "corners", "holdout must be one of"),
        ("a {color} {shape}", {"color": ["red"]}, "none", "has slots"),
        ("a {color}", {"color": ["red"], "shape": ["cube"]}, "none", "has slots"),
        ("a {color} {shape}", {"color": ["red", "blue"], "shape": ["cube"]}, "diagonal", "equal length"),
        ("a {color}", {"color": ["red", "blue"]}, "diagonal", ">= 2 slots"),
        ("a {} {}", {}, "none", "named"),
        ("a {color} {shape}", {"color": ["red", "red"], "shape": ["a", "b"]}, "none", "distinct"),
    ],
)
def test_grid_rejects_bad_input(template: str, slots: dict, holdout: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PromptSet.from_grid(template, slots, holdout=holdout)


def test_file_with_blank_lines_and_duplicates_warns_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("a red cube\n\n  a blue sphere  \n   \na red cube\na cat\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="atom.prompts.prompt_set"):
        prompts = PromptSet.from_file(path)
    assert prompts.prompts == ["a red cube", "a blue sphere", "a cat"] and prompts.name == "mine"
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "[2, 4]" in messages[0] and str(path) in messages[0]
    assert "a red cube" in messages[1]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        PromptSet.from_file(tmp_path / "nowhere.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="no prompts"):
        PromptSet.from_file(empty)


def test_from_list_splits() -> None:
    prompts = [f"prompt {i}" for i in range(20)]
    split = PromptSet.from_list(prompts, test_fraction=0.25)
    assert len(split.test) == 5 and len(split.train) == 15 and not set(split.test) & set(split.train)
    assert PromptSet.from_list(prompts, test_fraction=0.25).test == split.test  # seeded
    assert PromptSet.from_list(prompts, test_fraction=0.25, seed=1).test != split.test
    explicit = PromptSet.from_list(prompts, test=[3, 1])
    assert explicit.test == [1, 3] and explicit.test_prompts == ["prompt 1", "prompt 3"]
    assert PromptSet.from_list(prompts).test == []


def test_invalid_sets_are_rejected() -> None:
    with pytest.raises(ValueError, match="no prompts"):
        PromptSet.from_list([])
    with pytest.raises(ValueError, match="prompt 1 .* empty"):
        PromptSet.from_list(["a", " "])
    with pytest.raises(ValueError, match="repeats"):
        PromptSet.from_list(["a", "a"])
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        PromptSet.from_list(["a", "b"], test=[2])
    with pytest.raises(ValueError, match="test_fraction"):
        PromptSet.from_list(["a", "b"], test_fraction=1.0)
    with pytest.raises(ValueError, match="not both"):
        PromptSet.from_list(["a", "b"], test_fraction=0.5, test=[0])
    with pytest.raises(ValueError, match="both train and test"):
        PromptSet(prompts=["a", "b"], train=[0, 1], test=[1])
