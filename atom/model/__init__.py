"""Text-to-triplane network, triplane sampling, SDF/deformation/colour heads, the model, mesh extraction from
triplanes, and reading checkpoints."""

from atom.model.checkpoints import CheckpointError, list_checkpoints, resolve_checkpoint
from atom.model.generator import GeneratorConfig, TriplaneGenerator
from atom.model.heads import ColorHead, DeformationHead, SDFHead
from atom.model.mesh_extraction import surface_deformation, triplanes_to_meshes
from atom.model.text_to_triplane import TextToTriplane
from atom.model.triplane import PLANE_AXES, sample_triplane
from atom.model.triplane_conv import TriplaneConv, pooled_context

__all__ = [
    "PLANE_AXES",
    "CheckpointError",
    "ColorHead",
    "DeformationHead",
    "GeneratorConfig",
    "SDFHead",
    "TextToTriplane",
    "TriplaneConv",
    "TriplaneGenerator",
    "list_checkpoints",
    "pooled_context",
    "resolve_checkpoint",
    "sample_triplane",
    "surface_deformation",
    "triplanes_to_meshes",
]
