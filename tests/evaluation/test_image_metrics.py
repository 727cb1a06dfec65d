"""PSNR and SSIM against analytic values (and scikit-image when it happens to be installed)."""

from __future__ import annotations

import math

import pytest
import torch

from atom.evaluation.image_metrics import psnr, ssim

SSIM_K1, SSIM_K2 = 0.01, 0.03


def test_psnr_of_a_known_error():
    target = torch.zeros(2, 3, 8, 8)
    prediction = target + torch.tensor([0.1, 0.01])[:, None, None, None]
    assert psnr(prediction, target).tolist() == pytest.approx([20.0, 40.0], rel=1e-5)


def test_ssim_of_identical_images_is_one():
    image = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    assert ssim(image, image).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_ssim_of_constant_images_is_the_luminance_term():
    # no variance anywhere: SSIM = (2 a b + C1) / (a^2 + b^2 + C1)
    a, b = 0.3, 0.7
    c1 = SSIM_K1**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    value = ssim(torch.full((1, 1, 16, 16), a), torch.full((1, 1, 16, 16), b))
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_ssim_of_a_contrast_change_on_a_zero_mean_pattern():
    # x = m + d, y = m + k d with d a +-s checkerboard: every window has mean m (up to the window's
    # imbalance), so SSIM ~ (2 k s^2 + C2) / ((1 + k^2) s^2 + C2)
    m, s, k = 0.5, 0.2, 0.5
    rows, cols = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    d = s * (1 - 2 * ((rows + cols) % 2)).double()
    x, y = (m + d)[None, None], (m + k * d)[None, None]
    c2 = SSIM_K2**2
    expected = (2 * k * s * s + c2) / ((1 + k * k) * s * s + c2)
    assert float(ssim(x, y)) == pytest.approx(expected, rel=2e-3)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="B, C, H, W"):
        ssim(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 17))
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    assert math.isinf(float(psnr(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))))


def test_ssim_matches_a_scipy_gaussian_filter_reference():
    """A second implementation: scipy's Gaussian filter (sigma 1.5, truncated at 3.5 sigma = the 11-px
    window), statistics cropped to the valid region, as scikit-image computes it."""
    ndimage = pytest.importorskip("scipy.ndimage")
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(1, 1, 40, 40, generator=generator, dtype=torch.float64)
    y = (0.7 * x + 0.3 * torch.rand(x.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    a, b = x[0, 0].numpy(), y[0, 0].numpy()

    def blur(image):
        return ndimage.gaussian_filter(image, sigma=1.5, truncate=3.5)[5:-5, 5:-5]

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    reference = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    assert float(ssim(x, y)) == pytest.approx(float(reference.mean()), abs=1e-9)
