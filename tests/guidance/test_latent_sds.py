"""LatentSDS: the SDS gradient in latent space reaches the renders through the VAE encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import DDPMScheduler

from atom.guidance import LatentSDS

BATCH = 2
TIMESTEPS = torch.tensor([100, 600])


@pytest.fixture(scope="module")
def sds(tiny_sd: Path) -> LatentSDS:
    # 32 px renders -> 16x16 latents with the tiny VAE's 2x downsampling.
    return LatentSDS(path=str(tiny_sd), guidance_scale=10.0, resolution=32)


def test_embedding_width_is_the_cross_attention_width(sds: LatentSDS) -> None:
    assert sds.embedding_dim == 32  # the tiny CLIP's hidden size
    assert LatentSDS.__init__.__defaults__[:2] == (100.0, 512)  # SD defaults: scale 100, 512 px


def test_loss_backward_gives_finite_nonzero_image_gradient(sds: LatentSDS, make_embeddings) -> None:
    images = torch.rand(BATCH, 3, 48, 48, requires_grad=True)
    out = sds(images, make_embeddings(BATCH, 32, 1), make_embeddings(1, 32, 2), progress=0.3)
    out.loss.backward()
    assert out.grad.shape == (BATCH, 4, 16, 16)
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in sds.vae.parameters())
    assert all(p.grad is None for p in sds.unet.parameters())


def test_latent_gradient_identity_and_chain_through_the_encoder(sds: LatentSDS, make_embeddings) -> None:
    images = torch.rand(BATCH, 3, 32, 32, requires_grad=True)
    noise = torch.randn(BATCH, 4, 16, 16)
    cond, uncond = make_embeddings(BATCH, 32, seed=1), make_embeddings(BATCH, 32, seed=2)
    # The encoder samples from its posterior with the global RNG: replay the same draw.
    with torch.random.fork_rng():
        torch.manual_seed(7)
        out = sds(images, cond, uncond, progress=0.0, timesteps=TIMESTEPS, noise=noise)
    out.loss.backward()
    torch.manual_seed(7)
    latents = sds.vae.encode(images * 2 - 1).latent_dist.sample() * sds.vae.config.scaling_factor

    alpha_bar = DDPMScheduler.from_pretrained(sds.path, subfolder="scheduler").alphas_cumprod[TIMESTEPS]
    alpha_bar = alpha_bar.view(-1, 1, 1, 1)
    x_t = alpha_bar.sqrt() * latents.detach() + (1 - alpha_bar).sqrt() * noise
    with torch.no_grad():
        eps_u = sds.unet(x_t, TIMESTEPS, encoder_hidden_states=uncond.tokens).sample
        eps_c = sds.unet(x_t, TIMESTEPS, encoder_hidden_states=cond.tokens).sample
    expected = (1 - alpha_bar) * (eps_u + 10.0 * (eps_c - eps_u) - noise)
    torch.testing.assert_close(out.grad, expected, rtol=1e-4, atol=1e-4)
    (image_grad,) = torch.autograd.grad(latents, images, grad_outputs=expected / BATCH)
    torch.testing.assert_close(images.grad, image_grad, rtol=1e-4, atol=1e-6)


def test_train_mode_keeps_unet_and_vae_in_eval(sds: LatentSDS) -> None:
    sds.train()
    assert not sds.unet.training and not sds.vae.training
    sds.eval()
