"""What users call (diffusers-style pipelines): text -> meshes in one forward pass, embedding walks, six views +
CCMs -> a mesh (CRM reconstruction), one picture -> six views -> CCMs -> a mesh (CRM image to mesh), and the
inference runs that write meshes, previews, an index page and a summary into a folder."""

from atom.pipelines.crm_inputs import ViewInputError, read_views
from atom.pipelines.image_inputs import ImageInputError, prepare_image
from atom.pipelines.image_to_mesh import ImageToMeshError, ImageToMeshOutput, ImageToMeshPipeline, StageError
from atom.pipelines.inference import InferenceError, MeshWriter, run_inference, summary_table
from atom.pipelines.interpolation import InterpolationPoint, interpolate_embeddings, slerp, walk
from atom.pipelines.reconstruction import ReconstructionPipeline
from atom.pipelines.reconstruction_run import reconstruction_table, run_reconstruction
from atom.pipelines.text_to_mesh import TextToMeshPipeline

__all__ = ["ImageInputError", "ImageToMeshError", "ImageToMeshOutput", "ImageToMeshPipeline", "InferenceError",
           "InterpolationPoint", "MeshWriter", "ReconstructionPipeline", "StageError", "TextToMeshPipeline",
           "ViewInputError", "interpolate_embeddings", "prepare_image", "read_views", "reconstruction_table",
           "run_inference", "run_reconstruction", "slerp", "summary_table", "walk"]
