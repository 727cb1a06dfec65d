"""TimestepSchedule ranges and samples, and the SDS weightings, against closed-form values."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDPMScheduler

from atom.guidance import TimestepSchedule, sds_weight


def test_fixed_range_ignores_progress() -> None:
    schedule = TimestepSchedule(t_min=0.1, t_max=0.9)
    assert schedule.range(0.0) == (0.1, 0.9)
    assert schedule.range(1.0) == (0.1, 0.9)


@pytest.mark.parametrize(
    ("anneal", "progress", "expected_hi"),
    [
        ("linear", 0.0, 0.98),
        ("linear", 0.25, 0.98),  # before anneal_start
        ("linear", 0.5, 0.98 + (0.5 - 0.98) * 0.5),  # halfway between start 0.25 and end 0.75
        ("linear", 0.9, 0.5),  # after anneal_end
        ("sqrt", 0.5, 0.98 + (0.5 - 0.98) * math.sqrt(0.5)),
        ("sqrt", 1.0, 0.5),
    ],
)
def test_annealed_upper_end(anneal: str, progress: float, expected_hi: float) -> None:
    schedule = TimestepSchedule(
        t_min=0.02, t_max=0.98, anneal=anneal, final_t_max=0.5, anneal_start=0.25, anneal_end=0.75
    )
    lo, hi = schedule.range(progress)
    assert lo == 0.02
    assert hi == pytest.approx(expected_hi)


@pytest.mark.parametrize("progress", [0.0, 0.3, 0.6, 1.0])
def test_samples_stay_in_annealed_range_and_cover_it(progress: float) -> None:
    schedule = TimestepSchedule(t_min=0.2, t_max=0.9, anneal="linear", final_t_max=0.4)
    steps = schedule.sample(4000, 1000, progress, generator=torch.Generator().manual_seed(0))
    lo, hi = schedule.range(progress)
    assert steps.dtype == torch.long and steps.shape == (4000,)
    # Uniform integers over [int(lo T), int(hi T)]: every end is hit with 4000 draws over <= 701 values.
    assert steps.min().item() == int(lo * 1000)
    assert steps.max().item() == int(hi * 1000)


def test_sampling_is_reproducible_with_a_generator() -> None:
    schedule = TimestepSchedule()
    a = schedule.sample(16, 1000, 0.5, generator=torch.Generator().manual_seed(3))
    b = schedule.sample(16, 1000, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_upper_end_is_clipped_to_last_timestep() -> None:
    steps = TimestepSchedule(t_min=0.99, t_max=1.0).sample(100, 1000, 0.0)
    assert steps.max().item() <= 999 and steps.min().item() >= 990


def test_unknown_anneal_lists_accepted() -> None:
    with pytest.raises(ValueError, match="'cosine'") as error:
        TimestepSchedule(anneal="cosine")
    for name in ("none", "linear", "sqrt"):
        assert name in str(error.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"t_min": 0.5, "t_max": 0.4},
        {"t_min": -0.1},
        {"t_max": 1.5},
        {"anneal": "linear", "final_t_max": 0.01},
        {"anneal": "linear", "anneal_start": 0.8, "anneal_end": 0.2},
    ],
)
def test_bad_ranges_are_rejected(kwargs: dict[str, float | str]) -> None:
    with pytest.raises(ValueError, match="need"):
        TimestepSchedule(**kwargs)


def test_progress_outside_unit_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="1.5"):
        TimestepSchedule().range(1.5)


def test_weightings_match_closed_forms() -> None:
    # Cosine schedule (IF): alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2),
    # built from betas clipped at 0.999, so compare away from the clipped end.
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    t = torch.tensor([20, 250, 500, 900])

    def f(step: torch.Tensor) -> torch.Tensor:
        return torch.cos(((step.double() / 1000) + 0.008) / 1.008 * math.pi / 2) ** 2

    alpha_bar = (f(t + 1) / f(torch.zeros(1))).float()
    torch.testing.assert_close(
        sds_weight(scheduler.alphas_cumprod, t, "sds"), 1 - alpha_bar, rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(sds_weight(scheduler.alphas_cumprod, t, "uniform"), torch.ones(4))
    torch.testing.assert_close(
        sds_weight(scheduler.alphas_cumprod, t, "fantasia"),
        alpha_bar.sqrt() * (1 - alpha_bar),
        rtol=1e-4,
        atol=1e-5,
    )


def test_unknown_weighting_lists_accepted() -> None:
    with pytest.raises(ValueError, match="'dreamtime'") as error:
        sds_weight(torch.ones(10), torch.tensor([1]), "dreamtime")
    for name in ("sds", "uniform", "fantasia"):
        assert name in str(error.value)
