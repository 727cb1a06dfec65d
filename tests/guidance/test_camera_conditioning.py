"""Camera conditioning: the feature function against hand values, and score distillation with a tiny
camera-conditioned UNet (built offline): the same features reach both classifier-free guidance branches, a
missing or unwanted camera is an error, and the class embedding survives a save/load round trip."""

from __future__ import annotations

import math

import pytest
import torch

from atom.guidance import CAMERA_FEATURE_DIM, PixelSDS, camera_feature_dim, camera_features
from atom.prompts.views import DREAMFUSION4
from atom.toyworld.prior import build_prior_scheduler, build_prior_unet, save_prior

TEXT_DIM = 16
TINY = dict(resolution=16, text_dim=TEXT_DIM, block_out_channels=(16, 32), attention_head_dim=8, text_pool_heads=2)


def test_features_against_hand_values():
    s3 = math.sqrt(3.0) / 2.0
    # columns: sin a, cos a, sin 2a, cos 2a, sin 4a, cos 4a, sin e, cos e
    expected = torch.tensor([
        [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0],     # front (+X), horizon
        [1.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.5, s3],     # azimuth 90 (+Y), elevation 30: a cube face-on again
        [math.sqrt(0.5), math.sqrt(0.5), 1.0, 0.0, 0.0, -1.0, -0.5, s3],  # 45, -30: corner-on
        [0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0],    # back (180), straight above
    ])
    features = camera_features(torch.tensor([0.0, 90.0, 45.0, 180.0]), torch.tensor([0.0, 30.0, -30.0, 90.0]))
    assert features.shape == (4, CAMERA_FEATURE_DIM) and features.dtype == torch.float32
    torch.testing.assert_close(features, expected, atol=1e-6, rtol=0)
    # periodic in azimuth: -180 is 180, 405 is 45
    torch.testing.assert_close(camera_features([-180.0, 405.0], [10.0, 10.0]),
                               camera_features([180.0, 45.0], [10.0, 10.0]), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"azimuth and elevation must both be \[B\]"):
        camera_features(torch.zeros(3), torch.zeros(2))


def tiny_camera_unet():
    torch.manual_seed(0)
    return build_prior_unet(**TINY, camera=True).eval()


@pytest.fixture(scope="module")
def camera_prior(tmp_path_factory):
    """A tiny camera-conditioned toy-prior folder and the UNet it was saved from."""
    unet = tiny_camera_unet()
    folder = save_prior(unet, build_prior_scheduler(), tmp_path_factory.mktemp("camera_prior"), "# card\n",
                        DREAMFUSION4)
    return folder, unet


def test_camera_feature_dim_reads_the_config(camera_prior, tiny_if):
    assert camera_feature_dim(camera_prior[1]) == CAMERA_FEATURE_DIM
    torch.manual_seed(0)
    assert camera_feature_dim(build_prior_unet(**TINY)) is None
    assert PixelSDS(path=str(tiny_if), resolution=64).camera_feature_dim is None  # IF-style: no camera


def test_save_load_round_trip_keeps_the_class_embedding(camera_prior):
    folder, unet = camera_prior
    sds = PixelSDS(path=str(folder), resolution=16)
    assert sds.camera_feature_dim == CAMERA_FEATURE_DIM
    reference, loaded = unet.state_dict(), sds.unet.state_dict()
    assert any(name.startswith("class_embedding.") for name in loaded)
    assert reference.keys() == loaded.keys()
    assert all(torch.equal(reference[name], loaded[name]) for name in reference)


def sds_inputs(make_embeddings, batch: int = 3):
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(batch, 3, 16, 16, generator=generator)
    noise = torch.randn(batch, 3, 16, 16, generator=generator)
    timesteps = torch.tensor([100, 500, 900][:batch])
    features = camera_features(torch.tensor([0.0, 45.0, 200.0][:batch]), torch.tensor([0.0, 20.0, -10.0][:batch]))
    return images, make_embeddings(batch, TEXT_DIM, 2), make_embeddings(1, TEXT_DIM, 3), noise, timesteps, features


def test_both_branches_get_the_same_camera(camera_prior, make_embeddings):
    """The SDS gradient equals w(t) (eps_u + s (eps_c - eps_u) - noise) with eps_u and eps_c computed here, one
    call each, both at the render's camera: fails if the unconditional branch got zeros or no camera."""
    folder, unet = camera_prior
    sds = PixelSDS(path=str(folder), resolution=16, guidance_scale=4.0)
    images, cond, uncond, noise, timesteps, features = sds_inputs(make_embeddings)
    out = sds(images, cond, uncond, progress=0.0, timesteps=timesteps, noise=noise, camera_features=features)

    x = images * 2.0 - 1.0
    x_t = sds.scheduler.add_noise(x, noise, timesteps)
    alpha_bar = sds.alphas_cumprod[timesteps].view(-1, 1, 1, 1)

    def eps(tokens, cameras):
        with torch.no_grad():
            v = unet(x_t, timesteps, encoder_hidden_states=tokens, class_labels=cameras).sample
        return alpha_bar.sqrt() * v + (1.0 - alpha_bar).sqrt() * x_t

    eps_u, eps_c = eps(uncond.tokens.expand(3, -1, -1), features), eps(cond.tokens, features)
    expected = (1.0 - alpha_bar) * (eps_u + 4.0 * (eps_c - eps_u) - noise)  # w(t) = 1 - alpha_bar ("sds")
    torch.testing.assert_close(out.grad, expected, atol=1e-5, rtol=1e-4)
    # the camera matters: the unconditional branch at zero features, or other cameras, give another gradient
    zero_u = eps(uncond.tokens.expand(3, -1, -1), torch.zeros_like(features))
    assert not torch.allclose(out.grad, (1.0 - alpha_bar) * (zero_u + 4.0 * (eps_c - zero_u) - noise), atol=1e-4)
    turned = camera_features(torch.tensor([90.0, 135.0, 20.0]), torch.tensor([0.0, 20.0, -10.0]))
    other = sds(images, cond, uncond, progress=0.0, timesteps=timesteps, noise=noise, camera_features=turned)
    assert not torch.allclose(out.grad, other.grad, atol=1e-4)


def test_a_missing_or_unwanted_camera_is_an_error(camera_prior, tiny_if, make_embeddings):
    folder, _ = camera_prior
    sds = PixelSDS(path=str(folder), resolution=16)
    images, cond, uncond, noise, timesteps, features = sds_inputs(make_embeddings)
    with pytest.raises(ValueError, match="camera-conditioned.*no camera_features"):
        sds(images, cond, uncond, progress=0.0)
    with pytest.raises(ValueError, match=r"camera_features must be \[3, 8\]"):
        sds(images, cond, uncond, progress=0.0, camera_features=features[:, :4])
    plain = PixelSDS(path=str(tiny_if), resolution=64)
    t5, t5_empty = make_embeddings(3, plain.embedding_dim, 2), make_embeddings(1, plain.embedding_dim, 3)
    with pytest.raises(ValueError, match="not camera-conditioned"):
        plain(images, t5, t5_empty, progress=0.0, camera_features=features)
    assert plain.camera_features_for(torch.zeros(3), torch.zeros(3)) is None
    torch.testing.assert_close(sds.camera_features_for(torch.tensor([0.0, 45.0, 200.0]),
                                                       torch.tensor([0.0, 20.0, -10.0])), features)
