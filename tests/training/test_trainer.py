"""The trainer on tiny models: both stages, run-directory contents, resume equality, signals, bad input."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from safetensors.torch import load_file

from atom.model import CheckpointError, list_checkpoints
from atom.training import checkpoint as checkpoint_module
from atom.training.build import build_trainer as Trainer


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(list_checkpoints(path)[-1] / "model.safetensors"))


def test_both_stages_leave_a_complete_run_directory(tiny_config, tmp_path):
    cfg = tiny_config(tmp_path / "run", "trainer.max_steps=4", "stage1.steps=2", "trainer.image_every=4")
    trainer = Trainer(cfg, tmp_path / "run")
    initial = {k: v.clone() for k, v in trainer.system.model.state_dict().items()}
    summary = trainer.fit()
    run = tmp_path / "run"
    assert summary["steps"] == 4 and not summary["interrupted"]
    assert list_checkpoints(run), "no checkpoint written"
    assert list((run / "renders").glob("*.png")), "no render grid"
    assert len(list((run / "meshes").glob("*.glb"))) + len(summary["empty_mesh_prompts"]) == 4
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    stages = {r["train/stage"] for r in records if "train/stage" in r}
    assert stages == {1.0, 2.0}
    for r in records:
        if "loss/total" in r:
            assert isinstance(r["loss/total"], float)
    assert any("loss/eikonal" in r for r in records) and any("loss/laplacian" in r for r in records)
    changed = [k for k, v in trainer.system.model.state_dict().items() if not torch.equal(v, initial[k])]
    assert changed, "training changed no weight"


def test_killed_and_resumed_run_matches_an_uninterrupted_one(tiny_config, tmp_path):
    steps = ["trainer.max_steps=4", "stage1.steps=2"]
    straight = Trainer(tiny_config(tmp_path / "a", *steps), tmp_path / "a")
    straight.fit()

    first = Trainer(tiny_config(tmp_path / "b", *steps), tmp_path / "b")
    for _ in range(3):  # crosses into stage 2 after the "kill"
        first.train_step()
        first.step += 1
    first.save()
    del first  # the process dies here; only the checkpoint survives
    resumed = Trainer(tiny_config(tmp_path / "b", *steps), tmp_path / "b")
    assert resumed.step == 3
    resumed.fit()

    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


def test_sigterm_saves_and_stops(tiny_config, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tmp_path / "run", "trainer.max_steps=50"), tmp_path / "run")
    original = trainer.train_step

    def step_then_signal():
        result = original()
        if trainer.step == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(trainer, "train_step", step_then_signal)
    summary = trainer.fit()
    assert summary["interrupted"] and summary["steps"] == 2
    assert list_checkpoints(tmp_path / "run")[-1].name == "step_0000002"


def test_disk_full_keeps_the_previous_checkpoint(tiny_config, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tmp_path / "run", "trainer.max_steps=2"), tmp_path / "run")
    trainer.train_step()
    trainer.step += 1
    first = trainer.save()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", full)
    trainer.train_step()
    trainer.step += 1
    with pytest.raises(OSError, match="No space"):
        trainer.save()
    assert list_checkpoints(tmp_path / "run") == [first]
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))


def test_corrupt_checkpoint_is_refused_and_left_alone(tiny_config, tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(run, "trainer.max_steps=1"), run)
    trainer.fit()
    state_file = list_checkpoints(run)[-1] / "trainer_state.pt"
    state_file.write_bytes(b"not a checkpoint")
    before = sorted(p.name for p in run.rglob("*"))
    with pytest.raises(CheckpointError, match="corrupt"):
        Trainer(tiny_config(run, "trainer.max_steps=2"), run)
    assert sorted(p.name for p in run.rglob("*")) == before


def test_foreign_checkpoint_is_refused(tiny_config, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_config(run, "trainer.max_steps=1"), run).fit()
    with pytest.raises(CheckpointError, match="does not match"):
        Trainer(tiny_config(tmp_path / "other", "model.hidden_dim=32", f"trainer.resume={run}"),
                tmp_path / "other")


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_stepz=3", "Key 'max_stepz' not in 'TrainerConfig'"),
        ("render.rasterizer=opengl", "Invalid value 'opengl', expected one of [torch, nvdiffrast, auto]"),
        ("trainer.max_steps=many", "Value 'many' of type 'str' could not be converted to Integer"),
        ("text.kind=bert", "Invalid value 'bert', expected one of [minilm, t5, clip]"),
        ("trainer.precision=fp61", "Invalid value 'fp61', expected one of [fp32, bf16, fp16]"),
    ],
)
def test_config_errors_name_the_key_and_accepted_values(tiny_config, tmp_path, override, message):
    with pytest.raises(ConfigCompositionException) as info:
        tiny_config(tmp_path / "run", override)
    text = str(info.value) + str(info.value.__cause__)
    assert message in text


def test_missing_and_empty_prompt_files(tiny_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        Trainer(tiny_config(tmp_path / "run", "prompts.source=file", f"prompts.file={tmp_path}/nowhere.txt"),
                tmp_path / "run")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="empty"):
        Trainer(tiny_config(tmp_path / "run", "prompts.source=file", f"prompts.file={empty}"), tmp_path / "run")


def test_text_width_mismatch_fails_at_start(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="model.text_dim"):
        Trainer(tiny_config(tmp_path / "run", "model.text_dim=48"), tmp_path / "run")


def test_vanished_mesh_is_pulled_back_towards_the_sphere(tiny_config, tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", "stage1.steps=0", "trainer.max_steps=2"), tmp_path / "run")
    output_bias = trainer.system.model.sdf_head.net[-1].bias
    with torch.no_grad():
        output_bias.fill_(3.0)  # SDF > 0 everywhere: no zero crossing, every mesh is empty
    before = float(output_bias.detach())
    result = trainer.train_step()
    assert result.metrics["train/empty_meshes"] == 2.0
    assert result.metrics["loss/empty_recovery"] > 1.0  # ~ 3^2 on the grid
    assert float(output_bias.detach()) < before, "the recovery term did not move the SDF back towards the sphere"
