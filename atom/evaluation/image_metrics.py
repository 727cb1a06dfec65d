"""Image metrics of novel-view renders: PSNR and SSIM, written with torch (no extra dependency).

- PSNR: ``10 log10(1 / MSE)`` for images in [0, 1], per image.
- SSIM (Wang et al. 2004): local means, variances and covariance under an 11 x 11 Gaussian window
  (sigma 1.5), ``((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))`` with
  ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, ``L = 1`` (the data range), averaged over the valid window
  positions (no padding) and channels, per image. Variances use the biased (1/N-weighted) window estimate,
  as the paper and scikit-image's ``gaussian_weights=True, use_sample_covariance=False``.
"""

from __future__ import annotations

import torch
from torch import Tensor

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_pair(prediction: Tensor, target: Tensor) -> None:
    if prediction.dim() != 4 or prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target must be two [B, C, H, W] images of one shape, got {list(prediction.shape)} "
            f"and {list(target.shape)}"
        )


def psnr(prediction: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB per image ``[B]`` of ``[B, C, H, W]`` images in [0, 1] (inf for identical images)."""
    _check_pair(prediction, target)
    mse = (prediction - target).square().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """``[size, size]`` normalised Gaussian window (float64)."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    line = torch.exp(-offsets.square() / (2 * sigma**2))
    line = line / line.sum()
    return line[:, None] * line[None, :]


def ssim(prediction: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """Mean SSIM per image ``[B]`` of ``[B, C, H, W]`` images (module docstring); H, W >= the window."""
    _check_pair(prediction, target)
    if min(prediction.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW}, got {list(prediction.shape)}")
    channels = prediction.shape[1]
    window = gaussian_window().to(prediction.device)[None, None].expand(channels, 1, -1, -1)
    x, y = prediction.double(), target.double()

    def blur(image: Tensor) -> Tensor:
        return torch.nn.functional.conv2d(image, window, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x.square()
    var_y = blur(y * y) - mu_y.square()
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(dim=1).to(prediction.dtype)
