"""Which diffusion timesteps score distillation samples, and how it weights them.

`TimestepSchedule` draws uniform integer timesteps from a fraction range [t_min, t_max] of the
scheduler's training timesteps. The upper end can be annealed over training (large t shapes coarse
geometry early; small t refines detail late, as in DreamFusion follow-ups and AToM's stage 2).
`sds_weight` is the per-timestep weight w(t) of the SDS gradient.
"""

from __future__ import annotations

import math

import torch

ANNEALS = ("none", "linear", "sqrt")
WEIGHTINGS = ("sds", "uniform", "fantasia")


class TimestepSchedule:
    """Uniform timestep sampling in a (possibly annealed) fraction range of the training timesteps.

    Args:
        t_min: lower end of the range, as a fraction of the training timesteps (0 <= t_min < t_max).
        t_max: upper end at the start of training (<= 1).
        anneal: how the upper end moves from `t_max` to `final_t_max` as progress goes from
            `anneal_start` to `anneal_end`: "none" (fixed), "linear", or "sqrt" (fast early, slow late).
        final_t_max: upper end after annealing; must be > t_min.
        anneal_start: training progress (0..1) at which annealing begins.
        anneal_end: training progress (0..1) at which the upper end reaches `final_t_max`.
    """

    def __init__(
        self,
        t_min: float = 0.02,
        t_max: float = 0.98,
        anneal: str = "none",
        final_t_max: float = 0.5,
        anneal_start: float = 0.0,
        anneal_end: float = 1.0,
    ) -> None:
        if anneal not in ANNEALS:
            raise ValueError(f"anneal must be one of {ANNEALS}, got {anneal!r}")
        if not 0.0 <= t_min < t_max <= 1.0:
            raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
        if anneal != "none" and not t_min < final_t_max <= 1.0:
            raise ValueError(f"need t_min < final_t_max <= 1, got t_min={t_min}, final_t_max={final_t_max}")
        if anneal != "none" and not 0.0 <= anneal_start < anneal_end <= 1.0:
            raise ValueError(
                f"need 0 <= anneal_start < anneal_end <= 1, got anneal_start={anneal_start}, "
                f"anneal_end={anneal_end}"
            )
        self.t_min = t_min
        self.t_max = t_max
        self.anneal = anneal
        self.final_t_max = final_t_max
        self.anneal_start = anneal_start
        self.anneal_end = anneal_end

    def range(self, progress: float) -> tuple[float, float]:
        """The (lo, hi) timestep fractions at training progress `progress` in [0, 1]."""
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"progress must be in [0, 1], got {progress}")
        if self.anneal == "none":
            return self.t_min, self.t_max
        s = min(max((progress - self.anneal_start) / (self.anneal_end - self.anneal_start), 0.0), 1.0)
        if self.anneal == "sqrt":
            s = math.sqrt(s)
        return self.t_min, self.t_max + (self.final_t_max - self.t_max) * s

    def sample(
        self,
        batch: int,
        num_train_timesteps: int,
        progress: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Uniform integer timesteps in [int(lo * T), int(hi * T)] (inclusive, clipped to T - 1).

        Returns a LongTensor [batch] on the generator's device (CPU without one).
        """
        lo, hi = self.range(progress)
        lo_step = min(int(lo * num_train_timesteps), num_train_timesteps - 1)
        hi_step = min(int(hi * num_train_timesteps), num_train_timesteps - 1)
        device = generator.device if generator is not None else torch.device("cpu")
        return torch.randint(lo_step, hi_step + 1, (batch,), generator=generator, device=device)

    def __repr__(self) -> str:
        return (
            f"TimestepSchedule(t_min={self.t_min}, t_max={self.t_max}, anneal={self.anneal!r}, "
            f"final_t_max={self.final_t_max}, anneal_start={self.anneal_start}, anneal_end={self.anneal_end})"
        )


def sds_weight(alphas_cumprod: torch.Tensor, t: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-sample SDS weight w(t), [B] float32 on `t`'s device.

    Args:
        alphas_cumprod: [T] cumulative products of the scheduler's alphas (alpha_bar).
        t: [B] integer timesteps.
        kind: "sds" = 1 - alpha_bar_t (DreamFusion), "uniform" = 1,
            "fantasia" = sqrt(alpha_bar_t) * (1 - alpha_bar_t) (Fantasia3D).
    """
    if kind not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {kind!r}")
    alpha_bar = alphas_cumprod.to(device=t.device, dtype=torch.float32)[t]
    if kind == "sds":
        return 1.0 - alpha_bar
    if kind == "uniform":
        return torch.ones_like(alpha_bar)
    return alpha_bar.sqrt() * (1.0 - alpha_bar)
