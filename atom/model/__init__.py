"""Text-to-triplane network, triplane sampling, SDF/deformation/color heads, the model, mesh extraction from
triplanes, and reading checkpoints."""

from atom.model.checkpoints import (
    CheckpointError,
    CorruptCheckpointError,
    list_checkpoints,
    resolve_checkpoint,
    verify_checkpoint,
)
from atom.model.heads import ColorHead, DeformationHead, FlexiCubesWeightHead, SDFDeformationHead, SDFHead
from atom.model.mesh_extraction import (
    Extraction,
    extract_triplanes,
    extraction_grid,
    surface_deformation,
    triplanes_to_meshes,
)
from atom.model.reconstruction import (
    RECONSTRUCTION_PRESETS,
    GridFields,
    ReconstructionConfig,
    ReconstructionModel,
    input_noise_coefficients,
)
from atom.model.text_to_mesh_model import TextToMeshConfig, TextToMeshModel
from atom.model.text_to_triplane import TextToTriplane
from atom.model.triplane import CRM_PLANE_AXES, PLANE_AXES, sample_triplane
from atom.model.triplane_conv import TriplaneConv, pooled_context

__all__ = [
    "CRM_PLANE_AXES",
    "PLANE_AXES",
    "RECONSTRUCTION_PRESETS",
    "CheckpointError",
    "CorruptCheckpointError",
    "ColorHead",
    "DeformationHead",
    "Extraction",
    "FlexiCubesWeightHead",
    "TextToMeshConfig",
    "GridFields",
    "ReconstructionConfig",
    "ReconstructionModel",
    "SDFDeformationHead",
    "SDFHead",
    "TextToTriplane",
    "TriplaneConv",
    "TextToMeshModel",
    "extract_triplanes",
    "extraction_grid",
    "input_noise_coefficients",
    "list_checkpoints",
    "pooled_context",
    "resolve_checkpoint",
    "sample_triplane",
    "surface_deformation",
    "triplanes_to_meshes",
    "verify_checkpoint",
]
