"""Load the frozen parts of a diffusers pipeline (UNet, DDPM scheduler, VAE) from a hub id or a folder.

`path` is either a local folder laid out like a diffusers pipeline (`unet/`, `scheduler/`, optionally
`vae/`), or a hub id that is already in the local Hugging Face cache (these machines are offline).
Every failure names where it looked and how to pass a local folder instead.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from huggingface_hub import is_offline_mode

logger = logging.getLogger(__name__)


class PipelineNotFoundError(FileNotFoundError):
    """A pipeline part could not be loaded from the given folder or hub id."""


def _where(path: str | Path, subfolder: str) -> str:
    """Explain where a part was looked for and how to point at a local copy instead."""
    offline = (
        " HF_HUB_OFFLINE is set, so hub ids resolve only from the local cache." if is_offline_mode() else ""
    )
    return (
        f"looked in '{path}' (subfolder '{subfolder}').{offline} Pass a local diffusers pipeline folder "
        f"containing '{subfolder}/', e.g. guidance.path=/path/to/IF-I-XL-v1.0"
    )


def _from_pretrained(cls: type, path: str | Path, subfolder: str, **kwargs: object) -> object:
    """`cls.from_pretrained(path, subfolder=...)` with an error that says where it looked."""
    local = Path(path).expanduser()
    # Hub ids are "name" or "owner/name"; anything else is meant as a folder.
    looks_local = local.is_absolute() or str(path).startswith((".", "~")) or str(path).count("/") > 1
    if looks_local and not local.is_dir():
        raise PipelineNotFoundError("no such folder; " + _where(path, subfolder))
    if local.is_dir() and not (local / subfolder).is_dir():
        found = sorted(p.name for p in local.iterdir())
        raise PipelineNotFoundError(
            f"no '{subfolder}/' in pipeline folder (it holds {found}); " + _where(path, subfolder)
        )
    source = str(local) if local.is_dir() else str(path)
    try:
        return cls.from_pretrained(source, subfolder=subfolder, **kwargs)
    except (OSError, ValueError) as error:
        # OSError: missing files or hub id not cached; ValueError: not a valid hub id (e.g. a bad path).
        raise PipelineNotFoundError(
            f"could not load {cls.__name__}: {error}\n" + _where(path, subfolder)
        ) from error


def _model_kwargs(dtype: torch.dtype, variant: str | None) -> dict[str, object]:
    # Without accelerate, diffusers warns and falls back to a full random init before loading weights.
    kwargs: dict[str, object] = {
        "torch_dtype": dtype,
        "low_cpu_mem_usage": importlib.util.find_spec("accelerate") is not None,
    }
    if variant is not None:
        kwargs["variant"] = variant
    return kwargs


def _frozen(model: torch.nn.Module, path: str | Path, subfolder: str) -> torch.nn.Module:
    model.requires_grad_(False)
    model.eval()
    parameter = next(model.parameters())
    logger.info(
        "loaded %s from '%s' (subfolder '%s'): %.2fM params, %s, %s",
        type(model).__name__,
        path,
        subfolder,
        count_parameters(model) / 1e6,
        parameter.dtype,
        parameter.device,
    )
    return model


def load_unet(
    path: str | Path, dtype: torch.dtype = torch.float32, variant: str | None = None
) -> UNet2DConditionModel:
    """The pipeline's `unet/` as a frozen, eval-mode `UNet2DConditionModel`."""
    unet = _from_pretrained(UNet2DConditionModel, path, "unet", **_model_kwargs(dtype, variant))
    return _frozen(unet, path, "unet")


def load_vae(
    path: str | Path, dtype: torch.dtype = torch.float32, variant: str | None = None
) -> AutoencoderKL:
    """The pipeline's `vae/` as a frozen, eval-mode `AutoencoderKL` (latent diffusion models only)."""
    vae = _from_pretrained(AutoencoderKL, path, "vae", **_model_kwargs(dtype, variant))
    return _frozen(vae, path, "vae")


def load_scheduler(path: str | Path) -> DDPMScheduler:
    """The pipeline's `scheduler/` config read as a `DDPMScheduler`.

    SDS needs the training noise schedule (alphas_cumprod), not the pipeline's sampler, so whatever
    scheduler class the pipeline ships (PNDM for Stable Diffusion), its betas are read into a DDPM one.
    """
    return _from_pretrained(DDPMScheduler, path, "scheduler")


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters of `model` (for the load log)."""
    return sum(p.numel() for p in model.parameters())
