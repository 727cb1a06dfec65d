"""Walks through text-embedding space between consecutive prompts (linear or spherical, per token vector).

The prompts are encoded in ONE batch so that every row has the same token length ``L``. A point between
prompt ``a`` and prompt ``b`` at weight ``w`` mixes their token vectors position by position and attends to
the union of their masks (a token real in either prompt is real in the mix). The end points are the
prompts' own rows, masks included, so they reproduce the plain generations exactly.

Spherical interpolation treats each token vector as a direction with a length: ``sin((1-w) t)/sin t * a +
sin(w t)/sin t * b`` with ``t`` the angle between ``a`` and ``b``; for (anti)parallel vectors the formula
divides by ~0, so those tokens fall back to linear interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from atom.text import TextEmbeddings

MODES = ("linear", "slerp")
# |cos t| above this counts as (anti)parallel: sin t < ~1.4e-3, where slerp's weights lose precision.
PARALLEL_COSINE = 1.0 - 1e-6


@dataclass(frozen=True)
class InterpolationPoint:
    """One step of a walk: ``weight`` 0 is prompt ``source``, 1 is prompt ``target`` (indices into the
    prompts); ``label`` names it for captions."""

    source: int
    target: int
    weight: float
    label: str


def slerp(a: Tensor, b: Tensor, weight: float) -> Tensor:
    """Spherical interpolation of vectors along the last axis (``[..., D]``), linear where ``a`` and ``b``
    are (anti)parallel or zero; ``weight`` 0 gives ``a`` and 1 gives ``b`` (up to rounding)."""
    if a.shape != b.shape:
        raise ValueError(f"slerp needs tensors of one shape, got {list(a.shape)} and {list(b.shape)}")
    unit_a = torch.nn.functional.normalize(a, dim=-1)
    unit_b = torch.nn.functional.normalize(b, dim=-1)
    cosine = (unit_a * unit_b).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    degenerate = (cosine.abs() > PARALLEL_COSINE) | (a.norm(dim=-1, keepdim=True) == 0) | (
        b.norm(dim=-1, keepdim=True) == 0)
    angle = torch.acos(torch.where(degenerate, torch.zeros_like(cosine), cosine))
    sine = torch.where(degenerate, torch.ones_like(angle), torch.sin(angle))
    spherical = (torch.sin((1.0 - weight) * angle) * a + torch.sin(weight * angle) * b) / sine
    linear = torch.lerp(a, b, weight)
    return torch.where(degenerate, linear, spherical)


def mix_embeddings(text: TextEmbeddings, source: int, target: int, weight: float, mode: str) -> TextEmbeddings:
    """Row ``source`` of ``text`` moved ``weight`` of the way to row ``target``: a batch of one.

    The end points (weight 0 or 1) return the rows themselves, masks included."""
    if mode not in MODES:
        raise ValueError(f"unknown interpolation mode {mode!r}; accepted: {', '.join(MODES)}")
    if weight == 0.0:
        return text[source]
    if weight == 1.0:
        return text[target]
    a, b = text[source], text[target]
    mix = torch.lerp if mode == "linear" else slerp
    return TextEmbeddings(
        tokens=mix(a.tokens, b.tokens, weight),
        mask=a.mask | b.mask,
        pooled=None if a.pooled is None else mix(a.pooled, b.pooled, weight),
    )


def walk(prompts: Sequence[str], steps: int) -> list[InterpolationPoint]:
    """The points of a walk through ``prompts`` in order: ``steps`` per consecutive pair, both ends
    included, shared ends counted once (``(P - 1) * (steps - 1) + 1`` points in all)."""
    if len(prompts) < 2:
        raise ValueError(f"interpolation needs at least 2 prompts, got {len(prompts)}: {list(prompts)}")
    if steps < 2:
        raise ValueError(f"interpolation steps must be >= 2 (both end points), got {steps}")
    points = [InterpolationPoint(0, 1, 0.0, prompts[0])]
    for source in range(len(prompts) - 1):
        target = source + 1
        for step in range(1, steps):
            weight = step / (steps - 1)
            label = prompts[target] if step == steps - 1 else (
                f"{prompts[source]} -> {prompts[target]} ({weight:.2f})")
            points.append(InterpolationPoint(source, target, weight, label))
    return points


def interpolate_embeddings(text: TextEmbeddings, points: Sequence[InterpolationPoint], mode: str) -> TextEmbeddings:
    """The embeddings ``[len(points), L, D]`` of a walk (from :func:`walk`) through the rows of ``text``."""
    if mode not in MODES:
        raise ValueError(f"unknown interpolation mode {mode!r}; accepted: {', '.join(MODES)}")
    if not points:
        raise ValueError("interpolate_embeddings needs at least one point")
    return TextEmbeddings.cat([mix_embeddings(text, p.source, p.target, p.weight, mode) for p in points])
