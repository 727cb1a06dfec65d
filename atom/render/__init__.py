"""Cameras, rasterization, NeuS volume rendering, shading and the view shader (torch only; optional nvdiffrast)."""

from atom.render.cameras import Cameras, look_at, sample_cameras, turntable
from atom.render.ccm import CRM_BACKGROUND, ccm_shade, decode_ccm
from atom.render.crm_tiles import crm_unet_input, tile_views, untile_views
from atom.render.crm_views import CRM_VIEW_NAMES, CRMViews, crm_cameras, render_crm_views
from atom.render.field import FieldSamples, SDFField, SphereField
from atom.render.fragments import Fragments, Rasterizer
from atom.render.mesh_renderer import MeshRenderOutput, composite, render_mesh
from atom.render.neus import NeuSRenderer, ray_box_intersection
from atom.render.nvdiffrast_rasterizer import NvdiffrastRasterizer
from atom.render.rasterizer import BACKENDS, make_rasterizer, nvdiffrast_available
from atom.render.shading import SHADING_MODES, random_light_directions, shade
from atom.render.torch_rasterizer import TorchRasterizer
from atom.render.view_shader import ViewShading, shade_views

__all__ = [
    "BACKENDS",
    "CRM_BACKGROUND",
    "CRM_VIEW_NAMES",
    "CRMViews",
    "SHADING_MODES",
    "Cameras",
    "FieldSamples",
    "Fragments",
    "MeshRenderOutput",
    "NeuSRenderer",
    "NvdiffrastRasterizer",
    "Rasterizer",
    "SDFField",
    "SphereField",
    "TorchRasterizer",
    "ccm_shade",
    "ViewShading",
    "composite",
    "crm_cameras",
    "crm_unet_input",
    "decode_ccm",
    "look_at",
    "make_rasterizer",
    "nvdiffrast_available",
    "random_light_directions",
    "ray_box_intersection",
    "render_crm_views",
    "render_mesh",
    "sample_cameras",
    "shade",
    "tile_views",
    "turntable",
    "untile_views",
    "shade_views",
]
