"""PixelSDS against an independent SDS computation: two UNet calls, CFG and w(t) written out here."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from hydra.utils import instantiate

from atom.guidance import PixelSDS
from atom.text.encoder import TextEmbeddings

BATCH = 2
RES = 16
TIMESTEPS = torch.tensor([150, 800])


def sds_at(path: Path, **kwargs: object) -> PixelSDS:
    """PixelSDS at the test resolution (the tiny UNet runs at any size; 16 keeps CPU tests quick)."""
    return PixelSDS(path=str(path), **{"guidance_scale": 7.5, "resolution": RES, **kwargs})


@pytest.fixture(scope="module")
def sds(tiny_if: Path) -> PixelSDS:
    return sds_at(tiny_if)


def independent_eps(
    sds: PixelSDS,
    x: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    cond: TextEmbeddings,
    uncond: TextEmbeddings,
    mask: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(alpha_bar [B,1,1,1], eps_uncond, eps_cond), with x_t and two separate UNet calls spelled out."""
    scheduler = DDPMScheduler.from_pretrained(sds.path, subfolder="scheduler")
    alpha_bar = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = alpha_bar.sqrt() * x + (1 - alpha_bar).sqrt() * noise
    eps = []
    with torch.no_grad():
        for emb in (uncond, cond):
            tokens = emb.tokens.expand(x.shape[0], -1, -1)
            extra = {"encoder_attention_mask": emb.mask.expand(x.shape[0], -1)} if mask else {}
            # IF-style output: [eps, learned variance]; eps is the first 3 channels.
            eps.append(sds.unet(x_t, t, encoder_hidden_states=tokens, **extra).sample[:, :3])
    return alpha_bar, eps[0], eps[1]


def independent_sds_grad(
    sds: PixelSDS,
    x: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    cond: TextEmbeddings,
    uncond: TextEmbeddings,
    scale: float,
    mask: bool = False,
) -> torch.Tensor:
    """DreamFusion's (1 - alpha_bar) * (eps_u + s (eps_c - eps_u) - noise)."""
    alpha_bar, eps_uncond, eps_cond = independent_eps(sds, x, noise, t, cond, uncond, mask)
    return (1 - alpha_bar) * (eps_uncond + scale * (eps_cond - eps_uncond) - noise)


def run_step(
    sds: PixelSDS, images: torch.Tensor, cond: TextEmbeddings, uncond: TextEmbeddings, noise: torch.Tensor
):
    images = images.clone().requires_grad_(True)
    out = sds(images, cond, uncond, progress=0.0, timesteps=TIMESTEPS, noise=noise)
    out.loss.backward()
    return out, images.grad


def test_image_gradient_is_the_sds_gradient(tiny_if: Path, make_embeddings) -> None:
    images, noise = torch.rand(BATCH, 3, RES, RES), torch.randn(BATCH, 3, RES, RES)
    cond, uncond = make_embeddings(BATCH, 32, seed=1), make_embeddings(BATCH, 32, seed=2)
    alpha_bar, eps_uncond, eps_cond = independent_eps(
        sds_at(tiny_if), images * 2 - 1, noise, TIMESTEPS, cond, uncond
    )
    eps_hat = eps_uncond + 7.5 * (eps_cond - eps_uncond)
    weights = {
        "sds": 1 - alpha_bar,
        "uniform": torch.ones_like(alpha_bar),
        "fantasia": alpha_bar.sqrt() * (1 - alpha_bar),
    }
    for weighting, weight in weights.items():
        out, image_grad = run_step(sds_at(tiny_if, weighting=weighting), images, cond, uncond, noise)
        expected = weight * (eps_hat - noise)
        torch.testing.assert_close(out.grad, expected, rtol=1e-4, atol=1e-4, msg=weighting)
        # loss = 0.5 |x - sg(x - grad)|^2 / B with x = 2 * images - 1 at native resolution.
        torch.testing.assert_close(image_grad, 2 * expected / BATCH, rtol=1e-4, atol=1e-4, msg=weighting)
        assert torch.equal(out.timesteps, TIMESTEPS)
        assert out.grad_norm == pytest.approx(expected.flatten(1).norm(dim=1).mean().item(), rel=1e-4)
        assert out.loss.item() == pytest.approx(0.5 * expected.pow(2).sum().item() / BATCH, rel=1e-4)


@pytest.mark.parametrize(("scale", "which"), [(1.0, "cond"), (0.0, "uncond")])
def test_guidance_scale_one_is_conditional_zero_is_unconditional(
    tiny_if: Path, make_embeddings, scale: float, which: str
) -> None:
    sds = sds_at(tiny_if, guidance_scale=scale)
    images, noise = torch.rand(BATCH, 3, RES, RES), torch.randn(BATCH, 3, RES, RES)
    cond, uncond = make_embeddings(BATCH, 32, seed=1), make_embeddings(BATCH, 32, seed=2)
    out, _ = run_step(sds, images, cond, uncond, noise)
    chosen = cond if which == "cond" else uncond
    # One UNet call on the chosen embeddings alone: eps_hat is that prediction.
    expected = independent_sds_grad(sds, images * 2 - 1, noise, TIMESTEPS, chosen, chosen, 1.0)
    torch.testing.assert_close(out.grad, expected, rtol=1e-4, atol=1e-4)
    other = independent_sds_grad(sds, images * 2 - 1, noise, TIMESTEPS, cond, uncond, 1.0 - scale)
    assert (out.grad - other).abs().max() > 1e-3  # the embeddings matter, so the test can fail


def test_resized_images_get_the_gradient_through_the_resize(sds: PixelSDS, make_embeddings) -> None:
    images = torch.rand(BATCH, 3, 48, 40, requires_grad=True)
    noise = torch.randn(BATCH, 3, RES, RES)
    out = sds(images, make_embeddings(BATCH, 32, 1), make_embeddings(1, 32, 2), 0.0, TIMESTEPS, noise)
    out.loss.backward()
    resized = (
        F.interpolate(images, size=(RES, RES), mode="bilinear", align_corners=False, antialias=True) * 2 - 1
    )
    (expected,) = torch.autograd.grad(resized, images, grad_outputs=out.grad / BATCH)
    torch.testing.assert_close(images.grad, expected, rtol=1e-5, atol=1e-7)
    assert out.grad.shape == (BATCH, 3, RES, RES)


def test_unet_gets_no_gradient_and_is_in_no_graph(sds: PixelSDS, make_embeddings) -> None:
    images = torch.rand(BATCH, 3, RES, RES, requires_grad=True)
    out = sds(images, make_embeddings(BATCH, 32, 1), make_embeddings(BATCH, 32, 2), 0.5)
    assert not out.grad.requires_grad
    # Walk the loss graph: its only leaf is the images.
    leaves, stack, seen = [], [out.loss.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            leaves.append(node.variable)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    assert len(leaves) == 1 and leaves[0] is images
    out.loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in sds.unet.parameters())
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_embedding_width_mismatch_names_both_widths(sds: PixelSDS, make_embeddings) -> None:
    assert sds.embedding_dim == 32  # the tiny T5's d_model, the UNet's encoder_hid_dim
    with pytest.raises(ValueError, match="width 16 .* width 32"):
        sds(torch.rand(1, 3, RES, RES), make_embeddings(1, 16, 1), make_embeddings(1, 16, 2), 0.0)


def test_attention_mask_is_passed_when_enabled(tiny_if: Path, make_embeddings) -> None:
    sds = sds_at(tiny_if, guidance_scale=5.0, use_attention_mask=True)
    images, noise = torch.rand(BATCH, 3, RES, RES), torch.randn(BATCH, 3, RES, RES)
    cond, uncond = make_embeddings(BATCH, 32, seed=1), make_embeddings(BATCH, 32, seed=2)
    out, _ = run_step(sds, images, cond, uncond, noise)
    masked = independent_sds_grad(sds, images * 2 - 1, noise, TIMESTEPS, cond, uncond, 5.0, mask=True)
    unmasked = independent_sds_grad(sds, images * 2 - 1, noise, TIMESTEPS, cond, uncond, 5.0)
    torch.testing.assert_close(out.grad, masked, rtol=1e-4, atol=1e-4)
    assert (masked - unmasked).abs().max() > 1e-3


def test_batch_one_embeddings_broadcast(sds: PixelSDS, make_embeddings) -> None:
    images, noise = torch.rand(BATCH, 3, RES, RES), torch.randn(BATCH, 3, RES, RES)
    cond, uncond = make_embeddings(BATCH, 32, seed=1), make_embeddings(1, 32, seed=2)
    repeated = TextEmbeddings(tokens=uncond.tokens.repeat(BATCH, 1, 1), mask=uncond.mask.repeat(BATCH, 1))
    broadcast, _ = run_step(sds, images, cond, uncond, noise)
    explicit, _ = run_step(sds, images, cond, repeated, noise)
    torch.testing.assert_close(broadcast.grad, explicit.grad)


def test_grad_clip_clamps_each_element(tiny_if: Path, make_embeddings) -> None:
    sds = sds_at(tiny_if, grad_clip=0.05)
    images, noise = torch.rand(BATCH, 3, RES, RES), torch.randn(BATCH, 3, RES, RES)
    cond, uncond = make_embeddings(BATCH, 32, seed=1), make_embeddings(BATCH, 32, seed=2)
    out, image_grad = run_step(sds, images, cond, uncond, noise)
    expected = independent_sds_grad(sds, images * 2 - 1, noise, TIMESTEPS, cond, uncond, 7.5).clamp(
        -0.05, 0.05
    )
    assert (expected.abs() == 0.05).any()  # clipping is active
    torch.testing.assert_close(out.grad, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(image_grad, 2 * expected / BATCH, rtol=1e-4, atol=1e-4)


def test_non_finite_gradient_becomes_zero(sds: PixelSDS, make_embeddings) -> None:
    noise = torch.randn(BATCH, 3, RES, RES)
    noise[0, 0, 0, 0] = float("nan")
    out, image_grad = run_step(
        sds,
        torch.rand(BATCH, 3, RES, RES),
        make_embeddings(BATCH, 32, 1),
        make_embeddings(BATCH, 32, 2),
        noise,
    )
    assert torch.isfinite(out.grad).all() and torch.isfinite(image_grad).all()
    assert torch.isfinite(out.loss)


def test_sampled_timesteps_follow_the_schedule(tiny_if: Path, make_embeddings) -> None:
    sds = sds_at(tiny_if, t_min=0.1, t_max=0.9, anneal="linear", final_t_max=0.3)
    out = sds(torch.rand(8, 3, RES, RES), make_embeddings(8, 32, 1), make_embeddings(1, 32, 2), progress=1.0)
    assert out.timesteps.shape == (8,)
    assert out.timesteps.min() >= 100 and out.timesteps.max() <= 300


def test_v_prediction_is_converted_to_noise(tiny_if: Path, tmp_path: Path, make_embeddings) -> None:
    folder = shutil.copytree(tiny_if, tmp_path / "v_model")
    config_file = folder / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "prediction_type": "v_prediction"}))
    sds = sds_at(folder, guidance_scale=1.0)
    images, noise = torch.rand(BATCH, 3, RES, RES), torch.randn(BATCH, 3, RES, RES)
    cond = make_embeddings(BATCH, 32, seed=1)
    out, _ = run_step(sds, images, cond, cond, noise)
    # v = sqrt(ab) eps - sqrt(1 - ab) x0  =>  eps = sqrt(ab) v + sqrt(1 - ab) x_t.
    x = images * 2 - 1
    alpha_bar = sds.alphas_cumprod[TIMESTEPS].view(-1, 1, 1, 1)
    x_t = alpha_bar.sqrt() * x + (1 - alpha_bar).sqrt() * noise
    with torch.no_grad():
        v = sds.unet(x_t, TIMESTEPS, encoder_hidden_states=cond.tokens).sample[:, :3]
    eps = alpha_bar.sqrt() * v + (1 - alpha_bar).sqrt() * x_t
    torch.testing.assert_close(out.grad, (1 - alpha_bar) * (eps - noise), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"images": torch.rand(2, 4, RES, RES)}, r"\[B, 3, H, W\]"),
        ({"timesteps": torch.tensor([0, 1000])}, "999"),
        ({"timesteps": torch.tensor([1.0, 2.0])}, "integer"),
        ({"noise": torch.randn(2, 3, 8, 8)}, "noise"),
    ],
)
def test_bad_inputs_are_named(sds: PixelSDS, make_embeddings, kwargs: dict, match: str) -> None:
    call = {"images": torch.rand(2, 3, RES, RES), "timesteps": None, "noise": None, **kwargs}
    with pytest.raises(ValueError, match=match):
        sds(
            call["images"],
            make_embeddings(2, 32, 1),
            make_embeddings(2, 32, 2),
            0.0,
            call["timesteps"],
            call["noise"],
        )


def test_constructor_rejects_unknown_options(tiny_if: Path) -> None:
    with pytest.raises(ValueError, match="'sdsv2'"):
        PixelSDS(path=str(tiny_if), weighting="sdsv2")
    with pytest.raises(ValueError, match="'float8'"):
        PixelSDS(path=str(tiny_if), dtype="float8")


def test_train_mode_keeps_the_unet_in_eval(sds: PixelSDS) -> None:
    sds.train()
    assert sds.training and not sds.unet.training
    sds.eval()


def test_gpu_options_are_noops_on_cpu(
    tiny_if: Path, make_embeddings, caplog: pytest.LogCaptureFixture
) -> None:
    sds = sds_at(tiny_if, dtype="float16", channels_last=True, attention_slicing=True)
    with caplog.at_level(logging.INFO, logger="atom.guidance"):
        for _ in range(2):
            out = sds(torch.rand(1, 3, RES, RES), make_embeddings(1, 32, 1), make_embeddings(1, 32, 2), 0.0)
    assert sds.unet.dtype == torch.float32 and out.grad.dtype == torch.float32
    notes = [r.message for r in caplog.records if "not applied" in r.message]
    assert len(notes) == 1 and "float16" in notes[0] and "channels_last" in notes[0]


def test_hydra_instantiates_from_plain_keywords(tiny_if: Path) -> None:
    sds = instantiate(
        {"_target_": "atom.guidance.PixelSDS", "path": str(tiny_if), "t_max": 0.9, "grad_clip": 1.0}
    )
    assert isinstance(sds, PixelSDS) and sds.schedule.t_max == 0.9 and sds.grad_clip == 1.0
    assert sds.resolution == 64 and sds.guidance_scale == 20.0  # IF stage I defaults
