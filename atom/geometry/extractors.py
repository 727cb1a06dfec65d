"""Choosing a mesh extractor: ``mesh_extractor(kind, backend)``.

kind: "dmtet" (marching tetrahedra on a `TetrahedralGrid`: ``(grid, sdf, deformation=None) -> Mesh``) or
"flexicubes" (on a `VoxelGrid`: ``(grid, sdf, beta, alpha, gamma, deformation, *, weight_scale, training)
-> FlexiCubesOutput``). backend: "torch" (the default, pure PyTorch, what the tests check) or "kaolin"
(NVIDIA kaolin's implementations behind the same call, `atom.geometry.kaolin_extractors`). Asking for
kaolin without it raises; nothing falls back silently. The backend in use is logged once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from atom.geometry.flexicubes import flexicubes
from atom.geometry.kaolin_extractors import kaolin_extract_mesh, kaolin_flexicubes, require_kaolin
from atom.geometry.marching_tetrahedra import extract_mesh

logger = logging.getLogger(__name__)

EXTRACTOR_KINDS = ("dmtet", "flexicubes")
EXTRACTOR_BACKENDS = ("torch", "kaolin")
_EXTRACTORS: dict[tuple[str, str], Callable] = {
    ("dmtet", "torch"): extract_mesh,
    ("flexicubes", "torch"): flexicubes,
    ("dmtet", "kaolin"): kaolin_extract_mesh,
    ("flexicubes", "kaolin"): kaolin_flexicubes,
}
_announced: set[tuple[str, str]] = set()


def mesh_extractor(kind: str, backend: str = "torch") -> Callable:
    """The extraction function for ``kind`` ("dmtet" | "flexicubes") on ``backend`` ("torch" | "kaolin")."""
    if kind not in EXTRACTOR_KINDS:
        raise ValueError(f"unknown mesh extractor {kind!r}; accepted: {', '.join(EXTRACTOR_KINDS)}")
    if backend not in EXTRACTOR_BACKENDS:
        raise ValueError(f"unknown geometry backend {backend!r}; accepted: {', '.join(EXTRACTOR_BACKENDS)}")
    if backend == "kaolin":
        require_kaolin()
    if (kind, backend) not in _announced:
        _announced.add((kind, backend))
        logger.info("mesh extractor: %s on the %s backend", kind, backend)
    return _EXTRACTORS[kind, backend]
