"""One picture -> six views -> six CCMs -> a textured mesh (CRM, arXiv 2403.05034), as a diffusers-style pipeline.

Three stage models, each loaded with its own ``from_pretrained``:

1. ``views``: a :class:`~atom.model.multiview_diffusion.MultiViewDiffusionModel` of stage ``"views"``: the
   input picture ``[B, 3, S, S]`` (object centred on CRM's grey, :mod:`atom.pipelines.image_inputs`) -> the six
   views ``[B, 6, 3, T, T]`` in :data:`~atom.render.crm_views.CRM_VIEW_NAMES` order;
2. ``ccms``: one of stage ``"ccms"``: the six views -> their six CCMs ``[B, 6, 3, T, T]``;
3. ``reconstruction``: a :class:`~atom.model.ReconstructionModel` (through
   :class:`~atom.pipelines.reconstruction.ReconstructionPipeline`): views + CCMs -> triplanes -> FlexiCubes
   meshes with vertex colors.

The three must agree: stages ``"views"`` and ``"ccms"`` in that order, one tile size T. A pipeline folder
(``save_pretrained``) holds ``views/``, ``ccms/`` and ``reconstruction/``; a folder may instead hold
``image_to_mesh.json`` mapping each stage to its model folder (relative to the file), which is how the
bundled toy models (``atom/weights/toy_image_to_mesh``) point at ``toy_mv_views``, ``toy_mv_ccms`` and
``toy_crm_chain`` (``toy_crm`` fine-tuned on generated views). Explicit per-stage paths override either, so a
user's larger models of the same form drop in.

**Samples per picture.** The two diffusion stages draw ``num_samples`` (N) independent samples of the six views
and CCMs of each picture; the reconstruction model maps each to a triplane and the mesh is read from the mean of
the N triplanes (a test-time ensemble, atom's addition to CRM: the samples disagree on details the one picture
does not fix, and their mean triplane is a lower-variance estimate of the object). The default is the pipeline
folder's (``"num_samples"`` in ``image_to_mesh.json``), else 1, which is CRM's chain. Measured on the toy world in
``bench/RESULTS.md`` ("Image to mesh: several samples per picture").

One ``generator`` (a CPU ``torch.Generator``) draws, in order, stage 1's noise, stage 2's noise and the
reconstruction model's fixed input noise: one seed gives one mesh. A stage that raises is reported as a
:class:`StageError` naming it (bad input to the pipeline is a ``ValueError`` before any stage runs).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from atom.geometry import Mesh
from atom.model import CheckpointError, ReconstructionModel
from atom.model.multiview_diffusion import MultiViewDiffusionModel
from atom.pipelines.image_inputs import DEFAULT_FOREGROUND_RATIO, PreparedImage, prepare_image
from atom.pipelines.reconstruction import ReconstructionPipeline, check_view_tensors
from atom.render.crm_views import CRM_VIEW_NAMES

logger = logging.getLogger(__name__)

STAGES = ("views", "ccms", "reconstruction")
"""The stage models, in order; also the sub-folders of a pipeline folder."""
STAGE_TITLES = {
    "text_to_image": "text to image (prompt -> picture)",
    "preprocess": "input preprocessing (picture -> stage 1 input)",
    "views": "stage 1 (picture -> six views)",
    "ccms": "stage 2 (six views -> six CCMs)",
    "reconstruction": "stage 3 (views + CCMs -> mesh)",
    "export": "export (clean-up, colors, UV texture, previews)",
}
INDEX_NAME = "image_to_mesh.json"
"""Optional file in a pipeline folder: ``{"views": path, "ccms": path, "reconstruction": path}``, paths relative
to the file's folder, and optionally ``"num_samples": N`` (the pipeline's default samples per picture)."""
LAYOUT_HELP = (f"a folder holding {', '.join(s + '/' for s in STAGES)} (ImageToMeshPipeline.save_pretrained) or "
               f"{INDEX_NAME} naming each stage's folder, or a path per stage (views=, ccms=, reconstruction= in "
               f"Python; views_model=, ccms_model=, reconstruction_model= on the command line)")


class ImageToMeshError(ValueError):
    """Stage models that do not fit together (kind, stage, tile size), or a pipeline folder of the wrong layout."""


class StageError(RuntimeError):
    """A stage failed while running; ``stage`` names it (a key of :data:`STAGE_TITLES`); ``out_dir`` is set by a
    run that writes files (the folder holding the earlier stages' outputs)."""

    def __init__(self, stage: str, error: BaseException) -> None:
        self.stage = stage
        self.out_dir: Path | None = None
        super().__init__(f"{STAGE_TITLES[stage]} failed: {type(error).__name__}: {error}")


@contextlib.contextmanager
def stage_errors(stage: str) -> Iterator[None]:
    """Re-raise anything but a ``StageError`` raised in the block as a ``StageError`` of ``stage``."""
    try:
        yield
    except StageError:
        raise
    except Exception as err:
        raise StageError(stage, err) from err


@dataclass
class ImageToMeshOutput:
    """What one call makes, batch B.

    images: ``[B, 3, S, S]`` stage 1's input. views: ``[B * N, 6, 3, T, T]`` the generated views and ccms
    ``[B * N, 6, 3, T, T]`` their CCMs, both in [0, 1], CRM_VIEW_NAMES order, the N = ``num_samples`` samples of
    each picture consecutive (``views[::N]`` is the first sample of each). triplanes: ``[B, 3, C, T, T]``, each
    the mean of its picture's N. meshes: one per picture (world units, +Z up, vertex colors). seconds: per stage
    (``views``, ``ccms``, ``reconstruction``; wall clock)."""

    images: Tensor
    views: Tensor
    ccms: Tensor
    triplanes: Tensor
    meshes: list[Mesh]
    seconds: dict[str, float] = field(default_factory=dict)
    num_samples: int = 1


def check_num_samples(value: object, source: str = "num_samples") -> int:
    """``value`` as a number of samples per picture (an int >= 1).

    Raises:
        ValueError: anything else, naming ``source`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{source} must be an integer >= 1 (samples of the views and CCMs per picture), got "
                         f"{value!r}")
    return value


def read_index(folder: Path) -> dict:
    """The ``image_to_mesh.json`` of a pipeline folder, ``{}`` without one.

    Raises:
        ImageToMeshError: an unreadable file, or one that does not name the folder of each stage."""
    index = folder / INDEX_NAME
    if not index.is_file():
        return {}
    try:
        listed = json.loads(index.read_text(encoding="utf-8"))
        for stage in STAGES:
            if not isinstance(listed[stage], str):
                raise TypeError(f"{stage!r} is {listed[stage]!r}, not a path")
        if "num_samples" in listed:
            check_num_samples(listed["num_samples"], f"{INDEX_NAME}'s num_samples")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ImageToMeshError(f"{str(index)!r} must be a JSON object naming the folder of each of "
                               f"{', '.join(STAGES)} (and optionally num_samples): {type(err).__name__}: "
                               f"{err}") from err
    return listed


def stage_paths(path: str | Path | None = None, *, views: str | Path | None = None, ccms: str | Path | None = None,
                reconstruction: str | Path | None = None) -> dict[str, Path]:
    """Each stage's model folder: from ``path`` (its ``image_to_mesh.json``, else its sub-folders), each
    overridden by an explicit path.

    Raises:
        ImageToMeshError: a stage without a path, a missing folder, or an unreadable ``image_to_mesh.json``.
    """
    explicit = {"views": views, "ccms": ccms, "reconstruction": reconstruction}
    paths: dict[str, Path] = {}
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ImageToMeshError(f"image-to-mesh models {str(folder)!r} is not a folder; expected {LAYOUT_HELP}")
        listed = read_index(folder)
        if listed:
            paths = {stage: (folder / listed[stage]).resolve() for stage in STAGES}
        else:
            paths = {stage: folder / stage for stage in STAGES}
    for stage, value in explicit.items():
        if value is not None:
            paths[stage] = Path(value).expanduser()
    missing = [stage for stage in STAGES if stage not in paths]
    if missing:
        raise ImageToMeshError(f"no model folder for {', '.join(missing)}; expected {LAYOUT_HELP}")
    absent = {stage: str(p) for stage, p in paths.items() if not p.exists()}
    if absent:
        raise ImageToMeshError(f"model folders not found: {absent}; expected {LAYOUT_HELP}")
    return paths


def load_multiview(path: Path, stage: str, device: str | torch.device) -> MultiViewDiffusionModel:
    """A multi-view diffusion model folder (``config.json`` + ``model.safetensors``) for ``stage``.

    Raises:
        CheckpointError: the folder does not hold a loadable multi-view diffusion model."""
    try:
        model = MultiViewDiffusionModel.from_pretrained(path, device=device)
    except (ValueError, FileNotFoundError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{STAGE_TITLES[stage]}: {str(path)!r} is not a loadable multi-view diffusion model "
                              f"(MultiViewDiffusionModel config.json + model.safetensors): {err}") from err
    logger.info("loaded %s model %s (%d parameters)", stage, path, model.num_parameters())
    return model


class ImageToMeshPipeline:
    """``ImageToMeshPipeline.from_pretrained(folder)(picture) -> ImageToMeshOutput`` (module docstring)."""

    def __init__(self, views_model: MultiViewDiffusionModel, ccms_model: MultiViewDiffusionModel,
                 reconstruction: ReconstructionModel | ReconstructionPipeline,
                 device: str | torch.device | None = None, num_samples: int = 1) -> None:
        """The three stage models; ``device`` (default: the reconstruction model's) is where all three run;
        ``num_samples``: the default samples per picture (module docstring).

        Raises:
            ImageToMeshError: a model of the wrong kind or stage, or tile sizes that differ.
            ValueError: ``num_samples`` not an integer >= 1."""
        for name, model, stage in (("views_model", views_model, "views"), ("ccms_model", ccms_model, "ccms")):
            if not isinstance(model, MultiViewDiffusionModel):
                raise ImageToMeshError(f"{name} must be a MultiViewDiffusionModel of stage {stage!r}, got "
                                       f"{type(model).__name__}")
            if model.config.stage != stage:
                raise ImageToMeshError(f"{name} is a multi-view diffusion model of stage {model.config.stage!r}; "
                                       f"{STAGE_TITLES[stage]} needs stage {stage!r} (were the two swapped?)")
        if isinstance(reconstruction, ReconstructionModel):
            reconstruction = ReconstructionPipeline(reconstruction, device or "cpu")
        if not isinstance(reconstruction, ReconstructionPipeline):
            raise ImageToMeshError(f"reconstruction must be a ReconstructionModel or ReconstructionPipeline, got "
                                   f"{type(reconstruction).__name__}")
        sizes = {"views": views_model.config.tile_size, "ccms": ccms_model.config.tile_size,
                 "reconstruction": reconstruction.tile_size}
        if len(set(sizes.values())) != 1:
            raise ImageToMeshError(f"the stage models disagree on the tile size (pixels per view): {sizes}; all three "
                                   f"must make or take views of one size")
        self.device = torch.device(device) if device is not None else reconstruction.device
        self.views_model = views_model.to(self.device).eval()
        self.ccms_model = ccms_model.to(self.device).eval()
        self.reconstruction = ReconstructionPipeline(reconstruction.model, self.device)
        self.num_samples = check_num_samples(num_samples)
        self.paths: dict[str, str] = {}  # where each stage model was loaded from (set by from_pretrained)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, *, views: str | Path | None = None,
                        ccms: str | Path | None = None, reconstruction: str | Path | None = None,
                        device: str | torch.device = "cpu", num_samples: int | None = None) -> ImageToMeshPipeline:
        """Load the three stage models from a pipeline folder and/or explicit per-stage paths
        (:func:`stage_paths`); the reconstruction path may also be a checkpoint or run directory.
        ``num_samples`` (default: the folder's ``image_to_mesh.json``, else 1): samples per picture.

        Raises:
            ImageToMeshError: a folder of the wrong layout, or models that do not fit together.
            CheckpointError: a stage's folder does not hold a loadable model (the message names the stage)."""
        paths = stage_paths(path, views=views, ccms=ccms, reconstruction=reconstruction)
        views_model = load_multiview(paths["views"], "views", device)
        ccms_model = load_multiview(paths["ccms"], "ccms", device)
        try:
            reconstructor = ReconstructionPipeline.from_pretrained(paths["reconstruction"], device=device)
        except CheckpointError as err:
            raise CheckpointError(f"{STAGE_TITLES['reconstruction']}: {err}") from err
        if num_samples is None:
            num_samples = read_index(Path(path).expanduser()).get("num_samples", 1) if path is not None else 1
        pipeline = cls(views_model, ccms_model, reconstructor, device, num_samples)
        pipeline.paths = {stage: str(p) for stage, p in paths.items()}
        return pipeline

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``views/``, ``ccms/`` and ``reconstruction/`` (each model's own ``save_pretrained``) and
        ``image_to_mesh.json`` (naming them, with ``num_samples``) into ``directory`` (created); returns it."""
        directory = Path(directory)
        self.views_model.save_pretrained(directory / "views")
        self.ccms_model.save_pretrained(directory / "ccms")
        self.reconstruction.model.save_pretrained(directory / "reconstruction")
        index = {stage: stage for stage in STAGES} | {"num_samples": self.num_samples}
        (directory / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        return directory

    @property
    def input_size(self) -> int:
        """S, the side of stage 1's input picture (pixels)."""
        return self.views_model.config.input_size

    @property
    def tile_size(self) -> int:
        """T, the side of each generated view (pixels)."""
        return self.views_model.config.tile_size

    def prepare(self, path: str | Path, foreground_ratio: float | None = DEFAULT_FOREGROUND_RATIO) -> PreparedImage:
        """A picture file -> stage 1's input ``[3, S, S]`` (:func:`atom.pipelines.image_inputs.prepare_image`;
        raises ``ImageInputError``)."""
        return prepare_image(path, self.input_size, foreground_ratio)

    def check_images(self, images: Tensor) -> Tensor:
        """Stage 1's input ``[3, S, S]`` or ``[B, 3, S, S]`` float in [0, 1] -> ``[B, 3, S, S]``.

        Raises:
            ValueError: another shape or size, non-float values or values outside [0, 1]."""
        size = self.input_size
        expected = f"[3, {size}, {size}] or [B, 3, {size}, {size}] float in [0, 1] (the object centred on grey)"
        if not isinstance(images, Tensor) or not images.is_floating_point():
            raise ValueError(f"image must be a picture path or a tensor {expected}, got {type(images).__name__} "
                             f"{getattr(images, 'dtype', '')}")
        images = images[None] if images.dim() == 3 else images
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f"image must be {expected}, got {list(images.shape)}")
        if images.numel() and (bool(images.isnan().any()) or float(images.min()) < 0 or float(images.max()) > 1):
            raise ValueError(f"image values must be in [0, 1], got [{float(images.min())}, {float(images.max())}]")
        return images

    def generate_views(self, images: Tensor, *, num_inference_steps: int | None = None,
                       guidance_scale: float | None = None, generator: torch.Generator | None = None,
                       num_samples: int = 1) -> Tensor:
        """Stage 1: pictures ``[B, 3, S, S]`` -> six views ``[B * N, 6, 3, T, T]`` in [0, 1], N = ``num_samples``
        samples of each picture, consecutive (raises ``StageError``)."""
        images = self.check_images(images).repeat_interleave(check_num_samples(num_samples), dim=0)
        with stage_errors("views"):
            return self.views_model.sample(images.to(self.device), num_inference_steps=num_inference_steps,
                                           guidance_scale=guidance_scale, generator=generator)

    def generate_ccms(self, views: Tensor, *, num_inference_steps: int | None = None,
                      guidance_scale: float | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Stage 2: six views ``[B, 6, 3, T, T]`` -> six CCMs ``[B, 6, 3, T, T]`` in [0, 1] (raises
        ``StageError``)."""
        with stage_errors("ccms"):
            return self.ccms_model.sample(views.to(self.device), num_inference_steps=num_inference_steps,
                                          guidance_scale=guidance_scale, generator=generator)

    def reconstruct(self, views: Tensor, ccms: Tensor, generator: torch.Generator | None = None,
                    grid_resolution: int | None = None, num_samples: int = 1) -> tuple[Tensor, list[Mesh]]:
        """Stage 3: views and CCMs ``[B * N, 6, 3, T, T]`` (N = ``num_samples`` consecutive samples of each of B
        pictures) -> triplanes ``[B, 3, C, T, T]`` (the mean of each picture's N) and one colored mesh each.

        Raises:
            ValueError: ``num_samples`` not an integer >= 1. StageError: anything else, e.g. a batch that is not a
                multiple of ``num_samples``."""
        num_samples = check_num_samples(num_samples)
        with stage_errors("reconstruction"):
            views, ccms = check_view_tensors(views, ccms, self.reconstruction.tile_size)
            if views.shape[0] % num_samples:
                raise ValueError(f"views and CCMs hold {views.shape[0]} samples, not a multiple of num_samples="
                                 f"{num_samples} (the samples of each picture must be consecutive)")
            triplanes = self.reconstruction.triplanes(views, ccms, generator)
            triplanes = triplanes.unflatten(0, (-1, num_samples)).mean(dim=1)
            return triplanes, self.reconstruction.meshes(triplanes, grid_resolution)

    def __call__(self, image: Tensor | str | Path, *, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, generator: torch.Generator | None = None,
                 grid_resolution: int | None = None, foreground_ratio: float | None = DEFAULT_FOREGROUND_RATIO,
                 num_samples: int | None = None) -> ImageToMeshOutput:
        """A picture (a file path, or stage 1's input ``[(B,) 3, S, S]``) -> views, CCMs and meshes.

        Args:
            image: a picture file (cut out and placed by :meth:`prepare`) or prepared pictures.
            num_inference_steps, guidance_scale: both diffusion stages' DDIM steps and guidance scale
                (default: each model's own).
            generator: a CPU ``torch.Generator`` for all the noise (module docstring).
            grid_resolution: FlexiCubes cells per axis (default: the reconstruction model's).
            foreground_ratio: ``None`` keeps the picture's framing, a number is the object's share of the picture
                after placement (file paths only; :mod:`atom.pipelines.image_inputs`).
            num_samples: samples of the views and CCMs per picture, their triplanes averaged (default: the
                pipeline's ``num_samples``; module docstring).

        Raises:
            ImageInputError: a picture file that cannot be used. ValueError: a tensor of the wrong form.
            StageError: a stage failed (naming it).
        """
        num_samples = check_num_samples(self.num_samples if num_samples is None else num_samples)
        if isinstance(image, (str, Path)):
            image = self.prepare(image, foreground_ratio).image
        images = self.check_images(image)
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        views = self.generate_views(images, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                                    generator=generator, num_samples=num_samples)
        seconds["views"] = time.perf_counter() - started
        ccms = self.generate_ccms(views, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                                  generator=generator)
        seconds["ccms"] = time.perf_counter() - started - seconds["views"]
        triplanes, meshes = self.reconstruct(views, ccms, generator, grid_resolution, num_samples)
        seconds["reconstruction"] = time.perf_counter() - started - seconds["views"] - seconds["ccms"]
        return ImageToMeshOutput(images, views, ccms, triplanes, meshes, seconds, num_samples)

    def colors(self, triplane: Tensor, points: Tensor) -> Tensor:
        """The color head of one triplane ``[3, C, T, T]`` at ``points [N, 3]`` -> rgb ``[N, 3]`` in [0, 1]
        (for texture baking; ``ReconstructionPipeline.colors``)."""
        return self.reconstruction.colors(triplane, points)

    def __repr__(self) -> str:
        return (f"ImageToMeshPipeline(input {self.input_size} px, tiles {self.tile_size} px, views "
                f"{', '.join(CRM_VIEW_NAMES)}, {self.num_samples} sample(s) per picture, device {self.device})")
