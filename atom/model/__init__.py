"""Text-to-triplane network, triplane sampling, SDF/deformation/colour heads and the generator."""

from atom.model.generator import GeneratorConfig, TriplaneGenerator
from atom.model.heads import ColorHead, DeformationHead, SDFHead
from atom.model.text_to_triplane import TextToTriplane
from atom.model.triplane import PLANE_AXES, sample_triplane
from atom.model.triplane_conv import TriplaneConv, pooled_context

__all__ = [
    "PLANE_AXES",
    "ColorHead",
    "DeformationHead",
    "GeneratorConfig",
    "SDFHead",
    "TextToTriplane",
    "TriplaneConv",
    "TriplaneGenerator",
    "pooled_context",
    "sample_triplane",
]
