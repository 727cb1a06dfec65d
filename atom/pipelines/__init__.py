"""What users call (diffusers-style pipelines): text -> meshes in one forward pass, embedding walks, and the
inference run that writes meshes, previews, an index page and a summary into a folder."""

from atom.pipelines.inference import InferenceError, run_inference, summary_table
from atom.pipelines.interpolation import InterpolationPoint, interpolate_embeddings, slerp, walk
from atom.pipelines.text_to_mesh import TextToMeshPipeline

__all__ = ["InferenceError", "InterpolationPoint", "TextToMeshPipeline", "summary_table", "interpolate_embeddings",
           "run_inference", "slerp", "walk"]
