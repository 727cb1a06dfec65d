"""bench/diagnose_toy64.py: its stand-in for the trainer still samples the trainer's views, the ``hole``
subcommand reads a run's tori (on a tiny untrained checkpoint: mechanics, not quality), and ``wordings`` reads
what a text encoder knows (bag-of-words stand-ins that know the held-out synonyms, or not)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from atom.testing.tiny_training import tiny_checkpoint
from atom.toyworld.shapes import COLORS

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "diagnose_toy64.py"


@pytest.fixture(scope="module")
def diagnose():
    spec = importlib.util.spec_from_file_location("diagnose_toy64", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_trainer_stand_in_samples_the_trainers_views(diagnose):
    cfg = diagnose.toy64_config()
    views = diagnose.sample_views(cfg, 5, torch.Generator().manual_seed(0))
    again = diagnose.sample_views(cfg, 5, torch.Generator().manual_seed(0))
    assert views.cameras.azimuth.shape == (5,)
    low, high = cfg.render.elevation_range
    assert ((views.cameras.elevation >= low) & (views.cameras.elevation <= high)).all()
    assert torch.equal(views.cameras.azimuth, again.cameras.azimuth)  # the generator alone decides


def test_hole_reports_every_torus(diagnose, tmp_path, capsys):
    run = tiny_checkpoint(tmp_path)
    diagnose.cmd_hole(SimpleNamespace(run=str(run), grid=8))
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| a ")]
    assert [row.split("|")[1].strip() for row in rows] == [f"a {color.name} torus" for color in COLORS]
    for row in rows:
        genus, *_, outside_from, centre, core = (cell.strip() for cell in row.split("|")[2:-1])
        assert re.fullmatch(r"\d+", genus), row
        assert outside_from == "nan" or 0.0 <= float(outside_from) <= 0.6, row
        assert all(re.fullmatch(r"-?\d+\.\d+", value) for value in (centre, core)), row


class BagOfWords:
    """A stand-in text encoder: the pooled vector is the normalised count of each word (lower case, no
    punctuation), after ``aliases`` rewrote phrases (longest first), e.g. ``{"crimson": "red"}``."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = sorted(aliases.items(), key=lambda item: -len(item[0]))
        self.vocabulary: dict[str, int] = {}

    def encode(self, texts: list[str]) -> SimpleNamespace:
        pooled = torch.zeros(len(texts), 256)
        for row, text in enumerate(texts):
            text = re.sub(r"[^a-z0-9 -]", "", text.lower())
            for phrase, word in self.aliases:
                text = re.sub(rf"\b{re.escape(phrase)}\b", word, text)
            for word in text.split():
                pooled[row, self.vocabulary.setdefault(word, len(self.vocabulary))] += 1.0
        return SimpleNamespace(pooled=torch.nn.functional.normalize(pooled, dim=-1))


def wording_scores(report: str) -> list[float]:
    return [float(value) for value in re.findall(r"\| (\d\.\d+)(?= \|)", report)]


def test_wordings_reads_what_the_encoder_knows(diagnose):
    from atom.toyworld.paraphrases import COLOR_SYNONYMS, SHAPE_SYNONYMS

    knows = {synonym: word for table in (COLOR_SYNONYMS, SHAPE_SYNONYMS)
             for word, synonyms in table.items() for synonym in synonyms}
    informed = diagnose.wording_report(BagOfWords(knows))
    assert informed.count("| 1.000 | - |") == 2  # neither synonym reading misses a word
    # two synonym readings, then shape / color / both for the nearest prompt, nearest text and the probe;
    # the training texts name none of the 8 unseen objects, so the nearest text misses some of those
    scores = wording_scores(informed)
    assert scores[:5] + scores[8:] == [1.0] * 8 and min(scores[5:8]) >= 56 / 64
    blind = wording_scores(diagnose.wording_report(BagOfWords({})))
    assert len(blind) == 11 and max(blind[:2]) < 0.5 and blind[4] < 0.5 and blind[10] < 0.5
