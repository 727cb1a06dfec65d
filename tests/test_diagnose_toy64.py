"""bench/diagnose_toy64.py: its stand-in for the trainer still samples the trainer's views, and the ``hole``
subcommand reads a run's tori (on a tiny untrained checkpoint: mechanics, not quality)."""

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
