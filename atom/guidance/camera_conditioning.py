"""Camera conditioning of a diffusion prior: the camera's features and how a UNet says it takes them.

A camera-conditioned prior is an ordinary diffusers ``UNet2DConditionModel`` built with
``class_embed_type="projection"`` and ``projection_class_embeddings_input_dim=K``: its ``class_labels``
input, [B, K] camera features, goes through a small MLP (``TimestepEmbedding``) and is added to the time
embedding, so it scales and shifts every ResNet block as the timestep does (the camera embedding of
camera-conditioned multi-view priors such as MVDream, in diffusers' own mechanism). The UNet's saved config
carries both keys, so a folder says by itself whether its prior wants the camera (`camera_feature_dim`).

Features of a camera at azimuth ``a`` and elevation ``e`` (degrees, the convention of `atom.render.cameras`:
azimuth 0 on +X sees the object's front, +90 on +Y; elevation above the XY plane)::

    [sin a, cos a, sin 2a, cos 2a, sin 4a, cos 4a, sin e, cos e]        (K = 8)

Why these: (sin a, cos a) is the camera direction itself, continuous across +-180 and enough to tell every
yaw apart (a pyramid's or a torus's orientation, any shape without symmetry). The harmonics 2a and 4a are
the periods of the toy shapes' own symmetries (a torus repeats every 180 degrees, a cube, pyramid and
octahedron every 90): "face-on or corner-on" is then a linear function of one feature (cos 4a = +1 face-on,
-1 corner-on) instead of something the small projection MLP must carve out of the first harmonic.
Elevation needs only its first harmonic (-10..45 degrees in the toy world). Distance and field of view are
left out: in the toy world they vary little (2.5..3.0, 40..45 degrees) and do not change which side is seen.

Classifier-free guidance: only the text is dropped, never the camera. The unconditional branch gets the same
camera features as the conditional one (as Zero-1-to-3 / MVDream-style score distillation does): the
guidance direction eps(x, text, camera) - eps(x, "", camera) is then a text direction at a known camera, and
the camera acts in both branches. The toy prior is trained that way (`atom.toyworld.train_prior`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

AZIMUTH_HARMONICS = (1, 2, 4)
"""Multiples k of the azimuth whose (sin ka, cos ka) are features."""
CAMERA_FEATURE_DIM = 2 * len(AZIMUTH_HARMONICS) + 2
"""K: the width of `camera_features`."""
PROJECTION = "projection"
"""The diffusers ``class_embed_type`` of a camera-conditioned UNet."""


def camera_features(azimuth: Tensor | Sequence[float], elevation: Tensor | Sequence[float]) -> Tensor:
    """Features [B, `CAMERA_FEATURE_DIM`] float32 of B cameras (see the module docstring for the layout).

    Args:
        azimuth: [B] degrees, 0 = front (+X), +90 = +Y (e.g. `atom.render.Cameras.azimuth`); any value, the
            features are periodic.
        elevation: [B] degrees above the XY plane.
    """
    azimuth = torch.as_tensor(azimuth, dtype=torch.float32)
    elevation = torch.as_tensor(elevation, dtype=torch.float32, device=azimuth.device)
    if azimuth.dim() != 1 or elevation.shape != azimuth.shape:
        raise ValueError(f"azimuth and elevation must both be [B], got {list(azimuth.shape)} and "
                         f"{list(elevation.shape)}")
    a, e = azimuth * (math.pi / 180.0), elevation * (math.pi / 180.0)
    columns = [f(k * a) for k in AZIMUTH_HARMONICS for f in (torch.sin, torch.cos)]
    return torch.stack([*columns, torch.sin(e), torch.cos(e)], dim=1)


def camera_feature_dim(unet: torch.nn.Module) -> int | None:
    """K when ``unet`` (a diffusers ``UNet2DConditionModel``) is camera-conditioned, None when it takes no
    ``class_labels``; any other class embedding (class ids, timesteps) is not a camera and is refused."""
    config = unet.config
    kind = getattr(config, "class_embed_type", None)
    if kind is None:
        return None
    if kind != PROJECTION:
        raise ValueError(f"UNet class_embed_type must be None (no camera) or {PROJECTION!r} (camera features), "
                         f"got {kind!r}")
    return int(config.projection_class_embeddings_input_dim)


def check_camera_features(features: Tensor | None, expected_dim: int | None, batch: int, where: str) -> None:
    """Refuse camera features a UNet cannot use, or their absence when it needs them (no silent ignoring).

    Args:
        features: [B, K] camera features, or None.
        expected_dim: `camera_feature_dim` of the UNet (None: not camera-conditioned).
        batch: B, the number of images they condition.
        where: names the model in the error (its path).
    """
    if expected_dim is None:
        if features is not None:
            raise ValueError(f"camera_features were given but the UNet of '{where}' is not camera-conditioned "
                             f"(its config has no class_embed_type={PROJECTION!r}); pass camera_features=None")
        return
    if features is None:
        raise ValueError(f"the UNet of '{where}' is camera-conditioned (class_embed_type={PROJECTION!r}, "
                         f"{expected_dim} features) but no camera_features were given: pass "
                         f"atom.guidance.camera_features(cameras.azimuth, cameras.elevation) [B, {expected_dim}]")
    if features.shape != (batch, expected_dim):
        raise ValueError(f"camera_features must be [{batch}, {expected_dim}] for {batch} images and the UNet of "
                         f"'{where}', got {list(features.shape)}")
