"""Loading frozen pipeline parts from local folders, and the errors when they are not there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from diffusers import PNDMScheduler, UNet2DConditionModel

from atom.guidance import PipelineNotFoundError, load_scheduler, load_unet, load_vae


@pytest.mark.parametrize("pipeline", ["tiny_if", "tiny_sd"])
def test_loaded_unet_matches_direct_from_pretrained(pipeline: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(pipeline)
    unet = load_unet(path)
    direct = UNet2DConditionModel.from_pretrained(path, subfolder="unet").eval()
    channels = unet.config.in_channels
    x = torch.randn(2, channels, 16, 16)
    t = torch.tensor([10, 700])
    width = unet.config.encoder_hid_dim or unet.config.cross_attention_dim
    tokens = torch.randn(2, 7, width)
    with torch.no_grad():
        expected = direct(x, t, encoder_hidden_states=tokens).sample
        actual = unet(x, t, encoder_hidden_states=tokens).sample
    # Same weights; two instances may differ in the last bits (CPU kernels depend on buffer alignment).
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    for name, value in direct.state_dict().items():
        assert torch.equal(unet.state_dict()[name], value), name


def test_loaded_parts_are_frozen(tiny_sd: Path) -> None:
    for model in (load_unet(tiny_sd), load_vae(tiny_sd)):
        assert not model.training
        assert all(not p.requires_grad for p in model.parameters())


def test_scheduler_is_read_as_ddpm_whatever_the_pipeline_ships(tiny_sd: Path) -> None:
    shipped = PNDMScheduler.from_pretrained(tiny_sd, subfolder="scheduler")
    scheduler = load_scheduler(tiny_sd)
    assert type(scheduler).__name__ == "DDPMScheduler"
    # SD's scaled-linear betas, written out: linspace(sqrt(b0), sqrt(b1), T)^2.
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    torch.testing.assert_close(
        scheduler.alphas_cumprod.double(), torch.cumprod(1 - betas, 0), rtol=1e-5, atol=1e-7
    )
    torch.testing.assert_close(scheduler.alphas_cumprod, shipped.alphas_cumprod)


def test_missing_folder_error_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "IF-I-XL-v1.0"
    with pytest.raises(PipelineNotFoundError) as error:
        load_unet(missing)
    message = str(error.value)
    assert str(missing) in message
    assert "'unet'" in message
    assert "guidance.path=" in message
    assert "HF_HUB_OFFLINE" in message  # tests run offline (conftest)
    assert "no such folder" in message


@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks` argument is deprecated")
def test_uncached_hub_id_error_names_the_id() -> None:
    with pytest.raises(PipelineNotFoundError, match="DeepFloyd/IF-I-XL-v1.0"):
        load_scheduler("DeepFloyd/IF-I-XL-v1.0")


def test_folder_without_the_part_says_which_part(tiny_if: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(tiny_if / "unet", partial / "unet")
    with pytest.raises(PipelineNotFoundError, match="no 'vae/'") as error:
        load_vae(partial)
    assert str(partial) in str(error.value) and "unet" in str(error.value)
