"""Rasterizer interface and backend choice (this module re-exports the interface and both backends).

``make_rasterizer("torch" | "nvdiffrast" | "auto")`` returns an object with ``rasterize``, ``interpolate``
and ``antialias`` (:class:`Rasterizer`). The PyTorch backend is the default and is what the tests check;
nvdiffrast is used only when asked for, or for "auto" when it imports and CUDA is available.
"""

from __future__ import annotations

import logging

import torch

from atom.render.fragments import Fragments, Rasterizer
from atom.render.nvdiffrast_rasterizer import NvdiffrastRasterizer
from atom.render.torch_rasterizer import TorchRasterizer

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "nvdiffrast", "auto")
_announced: set[str] = set()


def _announce(level: int, message: str) -> None:
    """Log each distinct backend message once per process."""
    if message not in _announced:
        _announced.add(message)
        logger.log(level, message)


def nvdiffrast_available() -> bool:
    """True when ``nvdiffrast.torch`` can be imported and CUDA is available."""
    if not torch.cuda.is_available():
        return False
    try:
        import nvdiffrast.torch  # noqa: F401, PLC0415 (optional dependency: only its presence matters)
    except ImportError:
        return False
    return True


def make_rasterizer(backend: str = "torch") -> Rasterizer:
    """The rasterizer for ``backend``: "torch", "nvdiffrast", or "auto" (nvdiffrast if usable, else torch)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown rasterizer backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    if backend == "auto":
        if nvdiffrast_available():
            backend = "nvdiffrast"
        else:
            _announce(
                logging.WARNING, "rasterizer 'auto': nvdiffrast or CUDA unavailable, falling back to torch"
            )
            backend = "torch"
    rasterizer = NvdiffrastRasterizer() if backend == "nvdiffrast" else TorchRasterizer()
    _announce(logging.INFO, f"rasterizer backend: {backend}")
    return rasterizer


__all__ = [
    "BACKENDS",
    "Fragments",
    "NvdiffrastRasterizer",
    "Rasterizer",
    "TorchRasterizer",
    "make_rasterizer",
    "nvdiffrast_available",
]
