"""train_multiview end to end on a tiny stage: outputs, model card, resume after an interruption."""

import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import load_file

from atom.config import CONF_DIR
from atom.model.multiview_diffusion import MultiViewDiffusionModel
from atom.toyworld.train_multiview import train_multiview

TINY = [
    "data.input_size=16", "data.tile_size=16", "data.mesh_resolution=12", "data.pool_size=6", "data.supersample=1",
    "model.block_out_channels=[8,16]", "model.down_block_types=[DownBlock2D,CrossAttnDownBlock2D]",
    "model.up_block_types=[CrossAttnUpBlock2D,UpBlock2D]", "model.norm_num_groups=4", "model.attention_heads=2",
    "model.encoder_channels=[8]", "model.embedding_dim=8", "train.batch_size=2", "train.warmup_steps=1",
    "train.log_every=1", "sample.num_inference_steps=2", "sample.preview_steps=1", "sample.preview_objects=2",
]


def config(tmp_path, name, *overrides):
    with initialize_config_dir(str(CONF_DIR / "multiview"), version_base="1.3"):
        return compose("train_multiview", overrides=[
            *TINY, f"output_dir={tmp_path / name / 'out'}", f"run_dir={tmp_path / name / 'run'}",
            f"data.cache_dir={tmp_path / 'cache'}", *overrides])


@pytest.mark.parametrize("stage", ["views", "ccms"])
def test_training_writes_a_loadable_stage_with_card_grid_and_summary(tmp_path, stage):
    summary = train_multiview(config(tmp_path, stage, f"stage={stage}", "train.steps=2", "train.sample_every=2",
                                     "train.checkpoint_every=2"))
    out, run = tmp_path / stage / "out", tmp_path / stage / "run"
    model = MultiViewDiffusionModel.from_pretrained(out)
    assert model.config.stage == stage and model.config.tile_size == 16
    assert {t.dtype for t in load_file(out / "model.safetensors").values()} == {torch.float16}
    card = (out / "README.md").read_text()
    assert f"stage={stage}" in card and "PSNR median" in card
    assert (out / "samples.png").is_file() and (run / "samples" / "step_0000002.png").is_file()
    assert json.loads((run / "summary.json").read_text())["steps"] == summary["steps"] == 2
    assert summary["held_out"]["median_psnr"] > 0 and summary["cpu_seconds"] > 0


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    straight = config(tmp_path, "straight", "train.steps=4", "train.sample_every=0", "train.checkpoint_every=2")
    train_multiview(straight)
    interrupted = config(tmp_path, "resumed", "train.steps=4", "train.sample_every=0", "train.checkpoint_every=2",
                         "train.max_minutes=0")
    assert train_multiview(interrupted)["stopped_early"]  # after one step, leaving a checkpoint
    resumed = config(tmp_path, "resumed", "train.steps=4", "train.sample_every=0", "train.checkpoint_every=2")
    assert train_multiview(resumed)["steps"] == 4
    expected = load_file(tmp_path / "straight" / "out" / "model.safetensors")
    got = load_file(tmp_path / "resumed" / "out" / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name


def test_unknown_keys_fail_at_start(tmp_path):
    with pytest.raises(Exception, match="colour"):
        config(tmp_path, "bad", "train.colour=1")


def test_an_unknown_stage_fails_at_start_naming_the_stages(tmp_path):
    with pytest.raises(ValueError, match=r"stage must be one of \('views', 'ccms'\), got 'normals'"):
        train_multiview(config(tmp_path, "bad", "stage=normals"))
    assert not (tmp_path / "cache").exists()  # nothing rendered


def test_init_from_is_refused_not_ignored(tmp_path):
    """``train.init_from`` comes with the prior's training settings; this command does not implement it."""
    with pytest.raises(ValueError, match="train.init_from=/some/prior is not supported by train_multiview"):
        train_multiview(config(tmp_path, "bad", "train.init_from=/some/prior"))
    assert not (tmp_path / "cache").exists()  # nothing rendered
