"""Row gathering by an index tensor of any shape.

``values[index]`` with a multi-dimensional (or large) index is several times slower on the CPU than
``index_select`` on the flattened index, and much slower again when cores are shared (measured with torch
2.13 on 2 cores); both are differentiable, so the geometry code gathers through here.
"""

from __future__ import annotations

from torch import Tensor


def gather_rows(values: Tensor, index: Tensor) -> Tensor:
    """``values[index]``: ``values [N, *rest]``, integer ``index [*shape]`` -> ``[*shape, *rest]``."""
    return values.index_select(0, index.reshape(-1)).view(*index.shape, *values.shape[1:])
