"""Evaluation metrics that need more than the 3D ground truth of the toy world: CLIP R-precision."""

from atom.evaluation.clip_r_precision import (
    CLIPLoadError,
    CLIPScorer,
    ViewProtocol,
    clip_r_precision,
    format_table,
    recall_at_k,
    render_turntable,
    similarity_matrix,
)

__all__ = ["CLIPLoadError", "CLIPScorer", "ViewProtocol", "clip_r_precision", "format_table", "recall_at_k",
           "render_turntable", "similarity_matrix"]
