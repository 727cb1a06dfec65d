"""Checkpoints you can trust: every checkpoint carries a manifest, resume verifies it, inference too.

One tiny run is trained once (4 steps, checkpoints after steps 2 and 4); each test corrupts a copy of it.
The reference for "the resumed run equals an uninterrupted one" is the weights the uninterrupted run wrote
at step 4, read before anything was corrupted.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from atom.manifest import MANIFEST_NAME
from atom.model import CheckpointError, CorruptCheckpointError, list_checkpoints
from atom.pipelines import TextToMeshPipeline
from atom.testing.tiny_training import compose_tiny
from atom.training import checkpoint as checkpoint_module
from atom.training.build import build_trainer

STEPS = ["trainer.max_steps=4", "stage1.steps=2", "trainer.checkpoint_every=2"]
TRAINER_LOG = "atom.training.trainer"


@pytest.fixture(scope="module")
def trained_run(tiny_assets, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    build_trainer(compose_tiny(tiny_assets, run, *STEPS), run).fit()
    assert [c.name for c in list_checkpoints(run)] == ["step_0000002", "step_0000004"]
    return run


@pytest.fixture
def run(trained_run, tmp_path) -> Path:
    """A private copy of the trained run."""
    return shutil.copytree(trained_run, tmp_path / "run")


def truncate(path: Path) -> str:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return "size"


def flip_tensor_byte(path: Path) -> str:
    """Flip the lowest bit of one byte in the middle of the largest tensor's data: the safetensors header still
    parses and the file still loads, only the numbers differ (checked here with safetensors itself)."""
    before = {k: v.clone() for k, v in load_file(str(path)).items()}  # load_file maps the file: copy
    data = bytearray(path.read_bytes())
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    name, entry = max(((k, v) for k, v in header.items() if k != "__metadata__"),
                      key=lambda item: item[1]["data_offsets"][1] - item[1]["data_offsets"][0])
    begin, end = entry["data_offsets"]
    data[8 + header_size + (begin + end) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    after = load_file(str(path))  # still a valid safetensors file
    assert not torch.equal(before[name], after[name]) and after.keys() == before.keys()
    return "sha256"


def remove_manifest(path: Path) -> str:
    """The state a crash between the checkpoint's files and its manifest would leave (were it renamed)."""
    (path.parent / MANIFEST_NAME).unlink()
    return "missing manifest"


def _tree(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_every_checkpoint_carries_a_manifest_of_all_its_files(trained_run):
    for checkpoint in list_checkpoints(trained_run):
        listed = set(json.loads((checkpoint / MANIFEST_NAME).read_text())["files"])
        on_disk = {p.name for p in checkpoint.iterdir()} - {MANIFEST_NAME}
        assert listed == on_disk and "model.safetensors" in listed and "trainer_state.pt" in listed


@pytest.mark.parametrize("corrupt", [truncate, flip_tensor_byte, remove_manifest])
def test_auto_resume_skips_a_bad_newest_checkpoint_and_matches_the_uninterrupted_run(
        trained_run, run, tiny_assets, caplog, corrupt):
    newest = list_checkpoints(run)[-1]
    uninterrupted = load_file(str(list_checkpoints(trained_run)[-1] / "model.safetensors"))  # another copy
    check = corrupt(newest / "model.safetensors")
    with caplog.at_level(logging.WARNING, logger=TRAINER_LOG):
        trainer = build_trainer(compose_tiny(tiny_assets, run, *STEPS), run)
    assert trainer.step == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == TRAINER_LOG and r.levelno == logging.WARNING]
    assert any("skipping step_0000004" in w and f"{check} check failed" in w for w in warnings), warnings
    assert any("resuming from" in w and "step_0000002" in w for w in warnings), warnings
    trainer.fit()
    resumed = load_file(str(list_checkpoints(run)[-1] / "model.safetensors"))
    assert list_checkpoints(run)[-1].name == "step_0000004" and resumed.keys() == uninterrupted.keys()
    for key in resumed:
        torch.testing.assert_close(resumed[key], uninterrupted[key], rtol=0, atol=1e-6, msg=key)


@pytest.mark.parametrize("corrupt", [truncate, flip_tensor_byte])
def test_explicit_resume_to_a_corrupt_checkpoint_names_the_file_and_the_check(run, tiny_assets, tmp_path, corrupt):
    newest = list_checkpoints(run)[-1]
    check = corrupt(newest / "model.safetensors")
    before = _tree(run)
    with pytest.raises(CorruptCheckpointError) as info:
        build_trainer(compose_tiny(tiny_assets, tmp_path / "other", f"trainer.resume={newest}", *STEPS),
                      tmp_path / "other")
    assert info.value.check == check and info.value.path == newest / "model.safetensors"
    assert str(newest / "model.safetensors") in str(info.value) and f"{check} check failed" in str(info.value)
    assert _tree(run) == before


def test_when_no_checkpoint_is_valid_auto_resume_stops_and_names_each_one(run, tiny_assets):
    first, newest = list_checkpoints(run)
    truncate(newest / "trainer_state.pt")
    remove_manifest(first / "model.safetensors")
    before = _tree(run)
    with pytest.raises(CheckpointError, match="every checkpoint .* is corrupt or incomplete") as info:
        build_trainer(compose_tiny(tiny_assets, run, *STEPS), run)
    message = str(info.value)
    assert f"{newest / 'trainer_state.pt'}: size check failed" in message
    assert f"{first / MANIFEST_NAME}: missing manifest check failed" in message
    assert _tree(run) == before, "a rejected checkpoint was changed or deleted"


def test_a_crash_before_the_manifest_leaves_no_checkpoint(run, tiny_assets, monkeypatch):
    trainer = build_trainer(compose_tiny(tiny_assets, run, "trainer.max_steps=6", *STEPS[1:]), run)
    assert trainer.step == 4
    trainer.train_step()
    trainer.step += 1

    def crash(directory):
        raise OSError(f"killed while hashing {directory}")

    monkeypatch.setattr(checkpoint_module, "write_manifest", crash)
    with pytest.raises(OSError, match="killed while hashing"):
        trainer.save()
    assert [c.name for c in list_checkpoints(run)] == ["step_0000002", "step_0000004"]
    assert not list((run / "checkpoints").glob("*.tmp"))


def test_inference_verifies_a_manifest_and_loads_an_old_checkpoint_without_one(run, caplog):
    newest = list_checkpoints(run)[-1]
    TextToMeshPipeline.from_pretrained(run)  # verified, newest
    old_style = shutil.copytree(newest, run.parent / "old_style")
    remove_manifest(old_style / "model.safetensors")
    with caplog.at_level(logging.INFO, logger="atom.model.checkpoints"):
        pipeline = TextToMeshPipeline.from_pretrained(old_style)
    assert any("has no manifest" in r.getMessage() and "unverified" in r.getMessage() for r in caplog.records)
    expected = load_file(str(newest / "model.safetensors"))
    for key, value in pipeline.model.state_dict().items():
        assert torch.equal(value, expected[key]), key

    flip_tensor_byte(newest / "model.safetensors")
    for path in (newest, run):  # the checkpoint itself, and the run directory whose newest it is
        with pytest.raises(CorruptCheckpointError, match=r"model\.safetensors: sha256 check failed"):
            TextToMeshPipeline.from_pretrained(path)
