"""Whether the app can offer image -> mesh (CRM), and the tab that offers it.

The tab needs an image-to-mesh pipeline class (``atom.pipelines.ImageToMeshPipeline``, CRM part 2) and a
folder of its models (``image_ckpt=``). Until both exist the tab is built hidden, holding the reason, so the
page never shows a control that cannot work; the reason is also logged once at start.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PIPELINE_MODULE = "atom.pipelines"
PIPELINE_CLASS = "ImageToMeshPipeline"


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str


def image_to_mesh_availability(image_ckpt: str | None) -> Availability:
    """Available only when the pipeline class imports and ``image_ckpt`` is an existing folder."""
    try:
        module = importlib.import_module(PIPELINE_MODULE)
    except ImportError as err:
        return Availability(False, f"this version of atom has no {PIPELINE_MODULE} ({err})")
    if not hasattr(module, PIPELINE_CLASS):
        return Availability(False, f"this version of atom has no {PIPELINE_MODULE}.{PIPELINE_CLASS} (CRM part 2)")
    if image_ckpt is None:
        return Availability(False, "no image-to-mesh models given (start with image_ckpt=<folder>)")
    if not Path(image_ckpt).expanduser().is_dir():
        return Availability(False, f"image_ckpt={image_ckpt!r} is not a folder")
    return Availability(True, f"image-to-mesh models: {image_ckpt}")


def image_to_mesh_tab(availability: Availability):
    """The "Image to mesh" tab inside the current ``gr.Tabs``: visible only when ``availability.available``.

    Returns the ``gr.Tab``. Its controls (image in, the six generated views, then the mesh) are wired here
    once ``ImageToMeshPipeline`` exists; ``image_to_mesh_availability`` cannot be true before that."""
    import gradio as gr

    if availability.available:
        raise NotImplementedError(f"{PIPELINE_MODULE}.{PIPELINE_CLASS} exists: wire its controls into "
                                  "atom.app.image_to_mesh.image_to_mesh_tab")
    logger.info("image-to-mesh tab hidden: %s", availability.reason)
    with gr.Tab("Image to mesh", id="image", visible=False) as tab:
        gr.Markdown(f"Image to mesh is not available: {availability.reason}.")
    return tab
