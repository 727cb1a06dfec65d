"""The toy prior's model, folder and loading path: what `save_prior` writes loads through `PixelSDS` (the
path score distillation uses) with identical weights, one SDS step gives a finite gradient, and the
bundled weights (when present) load the same way and come with their model card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from atom.config import asset_path
from atom.guidance import CAMERA_FEATURE_DIM, PixelSDS, camera_features
from atom.prompts.views import SECTORS8, read_view_scheme
from atom.text.encoder import TextEmbeddings
from atom.toyworld.prior import build_prior_scheduler, build_prior_unet, load_prior, sample_prior, save_prior
from atom.toyworld.train_prior import diffusion_loss

TEXT_DIM = 384
TINY = dict(resolution=16, text_dim=TEXT_DIM, block_out_channels=(16, 32), attention_head_dim=8)
BUNDLED = Path(asset_path("toy_prior"))


def tiny_unet():
    torch.manual_seed(0)
    return build_prior_unet(**TINY).eval()


def embeddings(batch: int, seed: int, length: int = 8) -> TextEmbeddings:
    generator = torch.Generator().manual_seed(seed)
    return TextEmbeddings(torch.randn(batch, length, TEXT_DIM, generator=generator),
                          torch.ones(batch, length, dtype=torch.bool))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("prior")
    samples = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return save_prior(tiny_unet(), build_prior_scheduler(), directory, "# card\n", SECTORS8, samples=samples,
                      rows=2)


def test_default_architecture():
    unet = build_prior_unet()
    config = unet.config
    assert 1.5e6 < sum(p.numel() for p in unet.parameters()) < 4e6
    assert (config.sample_size, config.in_channels, config.out_channels) == (32, 3, 3)
    assert config.cross_attention_dim == TEXT_DIM and config.encoder_hid_dim is None
    # Cross-attention only below full resolution: the 32 x 32 level is a plain ResNet level.
    assert config.down_block_types[0] == "DownBlock2D" and config.up_block_types[-1] == "UpBlock2D"
    assert all("CrossAttn" in name for name in config.down_block_types[1:])
    with pytest.raises(ValueError, match="text_pool_heads"):
        build_prior_unet(text_pool_heads=5)


def test_folder_layout_is_a_diffusers_pipeline_without_pickles(saved):
    files = {str(path.relative_to(saved)) for path in saved.rglob("*") if path.is_file()}
    assert {"unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json",
            "README.md", "samples.png", "view_scheme.json"} <= files
    assert read_view_scheme(saved) is SECTORS8  # the captions it was trained on travel with the weights
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl"))]
    assert Image.open(saved / "samples.png").size == (2 * 16, 2 * 16)
    scheduler = json.loads((saved / "scheduler/scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == "v_prediction" and scheduler["num_train_timesteps"] == 1000


def test_loads_through_pixel_sds_with_identical_weights_and_a_finite_gradient(saved):
    sds = PixelSDS(path=str(saved), resolution=16, guidance_scale=7.5)
    reference = tiny_unet().state_dict()
    loaded = sds.unet.state_dict()
    assert reference.keys() == loaded.keys()
    assert all(torch.equal(reference[name], loaded[name]) for name in reference)
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2), requires_grad=True)
    out = sds(images, embeddings(2, 3), embeddings(1, 4), progress=0.0)
    out.loss.backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    # At native resolution d loss / d images = 2 * grad / B (renders [0, 1] -> [-1, 1]).
    torch.testing.assert_close(images.grad, 2.0 * out.grad / 2)


def test_load_prior_matches(saved):
    unet, scheduler = load_prior(saved)
    assert not unet.training and not any(p.requires_grad for p in unet.parameters())
    assert torch.equal(scheduler.alphas_cumprod, build_prior_scheduler().alphas_cumprod)


def test_sampling_follows_classifier_free_guidance():
    unet, scheduler = tiny_unet(), build_prior_scheduler()
    cond_a, cond_b, uncond = embeddings(2, 5).tokens, embeddings(2, 6).tokens, embeddings(1, 7).tokens

    def draw(cond, uncond, scale):
        return sample_prior(unet, scheduler, cond, uncond, scale, num_inference_steps=3,
                            generator=torch.Generator().manual_seed(0))

    images = draw(cond_a, uncond, 1.0)
    assert images.shape == (2, 3, 16, 16) and 0.0 <= images.min() and images.max() <= 1.0
    assert torch.equal(images, draw(cond_a, uncond, 1.0))  # seeded
    # Scale 0 uses only the unconditional prediction, scale 1 only the conditional one.
    torch.testing.assert_close(draw(cond_a, uncond, 0.0), draw(cond_b, uncond, 0.0))
    torch.testing.assert_close(images, draw(cond_a, embeddings(1, 8).tokens, 1.0))
    assert not torch.allclose(images, draw(cond_b, uncond, 1.0))


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_loss_against_its_formula(prediction_type):
    class ZeroUNet(torch.nn.Module):
        """Predicts zero, so the loss is the weighted mean square of the target."""

        def forward(self, sample, timestep, encoder_hidden_states, class_labels=None):
            return type("Output", (), {"sample": torch.zeros_like(sample)})()

    scheduler = build_prior_scheduler(prediction_type=prediction_type)
    images = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    tokens = torch.zeros(4, 2, TEXT_DIM)
    loss = diffusion_loss(ZeroUNet(), scheduler, images, tokens, torch.Generator().manual_seed(0), 5.0)
    plain = diffusion_loss(ZeroUNet(), scheduler, images, tokens, torch.Generator().manual_seed(0), None)
    # Replay the generator (noise first, then timesteps) and write the targets and weights out.
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(images.shape, generator=generator)
    t = torch.randint(0, 1000, (4,), generator=generator)
    alpha_bar = scheduler.alphas_cumprod[t]
    snr = alpha_bar / (1 - alpha_bar)
    a, b = alpha_bar.sqrt().view(-1, 1, 1, 1), (1 - alpha_bar).sqrt().view(-1, 1, 1, 1)
    if prediction_type == "epsilon":
        target, weight = noise, torch.minimum(snr, torch.tensor(5.0)) / snr
    else:  # v = sqrt(a) eps - sqrt(1 - a) x0 (Salimans & Ho 2022)
        target, weight = a * noise - b * images, torch.minimum(snr, torch.tensor(5.0)) / (snr + 1)
    per_sample = target.pow(2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(plain, per_sample.mean())
    torch.testing.assert_close(loss, (per_sample * weight).mean())


def test_bad_prediction_type_is_named():
    with pytest.raises(ValueError, match="prediction_type"):
        build_prior_scheduler(prediction_type="sample")


@pytest.mark.skipif(not (BUNDLED / "unet").is_dir(), reason="no bundled prior in atom/weights/toy_prior")
def test_bundled_prior_loads_through_pixel_sds_and_has_its_card():
    sds = PixelSDS(path=str(BUNDLED), resolution=32)
    assert sds.unet.config.sample_size == 32 and sds.embedding_dim == TEXT_DIM
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0), requires_grad=True)
    cameras = sds.camera_features_for(torch.tensor([30.0]), torch.tensor([15.0]))  # None for a text-only prior
    sds(images, embeddings(1, 1), embeddings(1, 2), progress=0.5, camera_features=cameras).loss.backward()
    assert torch.isfinite(images.grad).all()
    card = (BUNDLED / "README.md").read_text()
    assert "color accuracy" in card and "shape accuracy" in card
    assert (BUNDLED / "samples.png").is_file()
    assert sum(path.stat().st_size for path in BUNDLED.rglob("*") if path.is_file()) < 25 * 2**20


@pytest.mark.skipif(not (BUNDLED / "unet").is_dir(), reason="no bundled prior in atom/weights/toy_prior")
def test_bundled_prior_draws_the_color_and_shape_its_prompt_names():
    # The check itself on all 64 prompts, quicker: 10 instead of 50 DDIM steps and a coarse reference grid.
    # Measured: color 0.984, shape 0.875 this way (0.984 / 0.969 with the full check); chance is 1/8.
    from atom.toyworld.prior_check import build_references, check_prior

    references = build_references(32, "front", elevations=(0.0, 20.0, 40.0), distances=(2.5, 2.8, 3.1))
    check = check_prior(str(BUNDLED), num_inference_steps=10, references=references)
    assert check["color_accuracy"] >= 0.9 and check["shape_accuracy"] >= 0.8, (
        f"color {check['color_accuracy']:.3f}, shape {check['shape_accuracy']:.3f}")


def test_camera_conditioned_prior_samples_at_the_given_cameras():
    """A camera-conditioned prior needs camera features (both CFG branches get the same ones, so at scale 0
    the caption does not matter but the camera does), and a text-only prior refuses them."""
    torch.manual_seed(0)
    unet, scheduler = build_prior_unet(**TINY, camera=True).eval(), build_prior_scheduler()
    assert unet.config.class_embed_type == "projection"
    assert unet.config.projection_class_embeddings_input_dim == CAMERA_FEATURE_DIM
    cond_a, cond_b, uncond = embeddings(2, 5).tokens, embeddings(2, 6).tokens, embeddings(1, 7).tokens
    front = camera_features([0.0, 0.0], [15.0, 15.0])
    corner = camera_features([45.0, 45.0], [15.0, 15.0])

    def draw(cond, scale, cameras):
        return sample_prior(unet, scheduler, cond, uncond, scale, num_inference_steps=3,
                            generator=torch.Generator().manual_seed(0), camera_features=cameras)

    torch.testing.assert_close(draw(cond_a, 0.0, front), draw(cond_b, 0.0, front))
    assert not torch.allclose(draw(cond_a, 0.0, front), draw(cond_a, 0.0, corner))
    with pytest.raises(ValueError, match="no camera_features"):
        draw(cond_a, 1.0, None)
    with pytest.raises(ValueError, match="not camera-conditioned"):
        sample_prior(tiny_unet(), scheduler, cond_a, uncond, 1.0, num_inference_steps=1, camera_features=front)


def test_loss_conditions_on_the_cameras():
    """`diffusion_loss` hands the camera features to the UNet as class_labels, unchanged."""
    seen = {}

    class RecordingUNet(torch.nn.Module):
        def forward(self, sample, timestep, encoder_hidden_states, class_labels=None):
            seen["class_labels"] = class_labels
            return type("Output", (), {"sample": torch.zeros_like(sample)})()

    features = camera_features([0.0, 90.0], [0.0, 30.0])
    diffusion_loss(RecordingUNet(), build_prior_scheduler(), torch.zeros(2, 3, 8, 8), torch.zeros(2, 2, TEXT_DIM),
                   torch.Generator().manual_seed(0), None, features)
    assert seen["class_labels"] is features
