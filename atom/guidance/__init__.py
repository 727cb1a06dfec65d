"""Score distillation (SDS) from frozen diffusers models loaded with from_pretrained."""

from atom.guidance.camera_conditioning import CAMERA_FEATURE_DIM, camera_feature_dim, camera_features
from atom.guidance.latent_sds import LatentSDS
from atom.guidance.loading import PipelineNotFoundError, load_scheduler, load_unet, load_vae
from atom.guidance.pixel_sds import PixelSDS
from atom.guidance.score_distillation import ScoreDistillation, SDSOutput
from atom.guidance.timestep_schedule import TimestepSchedule, sds_weight

__all__ = [
    "CAMERA_FEATURE_DIM",
    "LatentSDS",
    "PipelineNotFoundError",
    "PixelSDS",
    "SDSOutput",
    "ScoreDistillation",
    "TimestepSchedule",
    "camera_feature_dim",
    "camera_features",
    "load_scheduler",
    "load_unet",
    "load_vae",
    "sds_weight",
]
