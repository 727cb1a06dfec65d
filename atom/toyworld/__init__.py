"""The offline toy world: analytic shapes with ground truth, the bundled diffusion prior, 3D metrics."""

from atom.toyworld.metrics import (
    EMPTY_CHAMFER,
    EMPTY_COLOUR_ERROR,
    chamfer_l1,
    colour_error,
    evaluate_meshes,
    f_score,
    format_table,
    r_precision,
    sample_surface,
    shape_distance,
    summary_scalars,
    volume_iou,
)
from atom.toyworld.shapes import (
    COLOURS,
    SHAPES,
    ToyColour,
    ToyObject,
    ToyShape,
    find_object,
    toy64,
    toy64_split,
)

__all__ = [
    "COLOURS",
    "EMPTY_CHAMFER",
    "EMPTY_COLOUR_ERROR",
    "SHAPES",
    "ToyColour",
    "ToyObject",
    "ToyShape",
    "chamfer_l1",
    "colour_error",
    "evaluate_meshes",
    "f_score",
    "find_object",
    "format_table",
    "r_precision",
    "sample_surface",
    "shape_distance",
    "summary_scalars",
    "toy64",
    "toy64_split",
    "volume_iou",
]
