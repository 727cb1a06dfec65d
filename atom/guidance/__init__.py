"""Score distillation (SDS) from frozen diffusers models loaded with from_pretrained."""

from atom.guidance.latent_sds import LatentSDS
from atom.guidance.loading import PipelineNotFoundError, load_scheduler, load_unet, load_vae
from atom.guidance.pixel_sds import PixelSDS
from atom.guidance.score_distillation import ScoreDistillation, SDSOutput
from atom.guidance.timestep_schedule import TimestepSchedule, sds_weight

__all__ = [
    "LatentSDS",
    "PipelineNotFoundError",
    "PixelSDS",
    "SDSOutput",
    "ScoreDistillation",
    "TimestepSchedule",
    "load_scheduler",
    "load_unet",
    "load_vae",
    "sds_weight",
]
