"""Inference: prompts -> exported meshes with previews, an index page and a summary; embedding walks."""

from atom.inference.interpolation import InterpolationPoint, interpolate_embeddings, slerp, walk
from atom.inference.pipeline import InferenceError, format_table, run_inference

__all__ = ["InferenceError", "InterpolationPoint", "format_table", "interpolate_embeddings", "run_inference",
           "slerp", "walk"]
