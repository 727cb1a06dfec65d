"""CRM's reconstruction training (arXiv 2403.05034) on the toy world, as a second ``TrainingSystem``.

A step draws ``B`` toy objects (:mod:`atom.toyworld.crm_data`: random shape, continuous color, yaw, scale;
never a held-out one), renders their six views + CCMs (the UNet input) and ``V`` random perspective views
each (the supervision: unlit color, mask, depth), all from the loop RNG. Forward: the
``ReconstructionModel`` maps the input to a triplane; its heads give SDF, deformation and FlexiCubes weights on
the voxel grid; FlexiCubes (training mode: every weight gets a gradient) extracts one mesh per object, colored
by the color head at its vertices, which is rendered at the supervision cameras with the same unlit path
as the targets (:func:`atom.toyworld.crm_data.render_albedo_views`). Loss (CRM's weights)::

    L = w_c MSE(rgb) + w_m MSE(mask) + w_d MSE_both(depth) + w_lpips LPIPS
        + w_dev L_dev + w_sign L_sign + w_w |raw weights|_1

``MSE(rgb)`` over whole images composited over the grey background; ``MSE(mask)`` of the antialiased
coverage; ``MSE_both(depth)`` over the pixels covered in both the prediction and the target (world units,
along the view axis); ``L_dev``, ``L_sign`` (sign-change BCE) and the weight L1 are FlexiCubes' regularisers
(:mod:`atom.geometry.flexicubes`), averaged over the objects. LPIPS needs weights given by path; none can be
fetched offline, so it is off unless ``crm.lpips_path`` is set (logged once at start).

Fine-tuning on generated inputs (issue 12): ``crm.init_from`` starts from a trained model's weights (a model
folder, checkpoint or run directory; a resumed run's own checkpoint replaces them), and with
``crm.generated_pool`` set, ``round(crm.generated_fraction * B)`` of each step's objects come from a pool of
GENERATED six views + CCMs (:mod:`atom.toyworld.generated_pool`: what the image-to-mesh chain's diffusion
stages made of a picture of a training object); their supervision is rendered from the stored object
parameters, as for the others, whose inputs are rendered from the true meshes.

Callbacks: a preview grid every ``trainer.image_every`` steps and at the end (per held-out object: the six
input views | predicted novel views | target novel views), and the held-out evaluation at the end
(:mod:`atom.evaluation.reconstruction`), printed as a table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from atom.config import CRMTrainConfig, TrainConfig
from atom.evaluation.reconstruction import (
    evaluate_reconstruction,
    format_reconstruction_table,
    novel_cameras,
    reconstruct,
    summary_scalars,
)
from atom.geometry import Mesh
from atom.geometry.flexicubes import flexicubes, flexicubes_sign_loss, flexicubes_weight_loss, voxel_grid
from atom.model.checkpoints import resolve_checkpoint
from atom.model.reconstruction import ReconstructionModel
from atom.render import make_rasterizer, sample_cameras
from atom.render.cameras import Cameras
from atom.render.crm_tiles import crm_unet_input
from atom.render.crm_views import render_crm_views
from atom.render.images import image_grid
from atom.toyworld.crm_data import (
    RenderedViews,
    held_out_objects,
    render_albedo_views,
    render_unet_inputs,
    sample_training_object,
)
from atom.toyworld.generated_pool import GeneratedPool, load_generated_pool
from atom.training.callbacks import Callback, CallbackContext
from atom.training.system import StepOutput, TrainingSystem

logger = logging.getLogger(__name__)

ALL_GROUPS = {"front_end", "sdf", "color", "flexicubes_weights"}


@dataclass
class ReconstructionBatch:
    """One step's data: ``unet_input [B, 12, S, 3 S]``, ``cameras`` (B * V, object-major) and the targets
    (``[B * V, C, H, W]`` each)."""

    unet_input: Tensor
    cameras: Cameras
    target: RenderedViews


def reconstruction_losses(prediction: RenderedViews, target: RenderedViews) -> dict[str, Tensor]:
    """The image terms: ``color`` (MSE of the composited rgb), ``mask`` (MSE of the coverage) and ``depth``
    (MSE over the pixels covered in both, 0 when there are none); every input ``[N, C, H, W]``."""
    if prediction.rgb.shape != target.rgb.shape or prediction.mask.shape != target.mask.shape:
        raise ValueError(f"prediction and target renders differ in shape: {list(prediction.rgb.shape)} vs "
                         f"{list(target.rgb.shape)}")
    both = prediction.hard_mask * target.hard_mask
    depth_error = (both * (prediction.depth - target.depth).square()).sum() / both.sum().clamp_min(1.0)
    return {
        "color": (prediction.rgb - target.rgb).square().mean(),
        "mask": (prediction.mask - target.mask).square().mean(),
        "depth": depth_error,
    }


class CRMSystem(TrainingSystem):
    """CRM's reconstruction model trained on rendered toy objects (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        super().__init__()
        self.config = cfg
        self.crm: CRMTrainConfig = cfg.crm
        self.device = device
        sizes = {} if cfg.crm.tile_size is None else {"tile_size": cfg.crm.tile_size}
        self.model = ReconstructionModel(cfg.crm.preset.value, **sizes).to(device)
        self.rasterizer = make_rasterizer(cfg.render.rasterizer.value)
        model_cfg = self.model.config
        self.grid = voxel_grid(model_cfg.grid_resolution, model_cfg.bound, device=device)
        if cfg.crm.lpips_path is not None:
            raise ValueError(
                f"crm.lpips_path={cfg.crm.lpips_path!r}: LPIPS is not wired in this build (no LPIPS package or "
                "weights offline); leave crm.lpips_path null to train without the LPIPS term")
        logger.info("CRM reconstruction: LPIPS term off (crm.lpips_path is null; no weights offline)")
        logger.info("CRM reconstruction model (%s) %.2fM parameters, grid %d", cfg.crm.preset.value,
                    self.model.num_parameters() / 1e6, model_cfg.grid_resolution)
        if cfg.crm.init_from is not None:
            self._initialise_from(cfg.crm.init_from)
        self.pool: GeneratedPool | None = None
        if not 0.0 <= cfg.crm.generated_fraction <= 1.0:
            raise ValueError(f"crm.generated_fraction must be in [0, 1], got {cfg.crm.generated_fraction}")
        if cfg.crm.generated_pool is not None:
            self.pool = load_generated_pool(cfg.crm.generated_pool)
            if self.pool.tile_size != model_cfg.tile_size:
                raise ValueError(f"crm.generated_pool={cfg.crm.generated_pool!r} holds {self.pool.tile_size}-px "
                                 f"views; the model takes {model_cfg.tile_size}-px tiles")
            logger.info("CRM reconstruction: %d of %d objects per step from the generated pool %s (%d objects)",
                        self.generated_per_step, cfg.crm.objects_per_step, cfg.crm.generated_pool, len(self.pool))

    def _initialise_from(self, path: str) -> None:
        """Copy a trained model's weights (``crm.init_from``) into ``self.model``; its config must match."""
        source = ReconstructionModel.from_pretrained(resolve_checkpoint(path))
        if source.config != self.model.config:
            raise ValueError(f"crm.init_from={path!r} holds a model of another config than crm.preset/tile_size "
                             f"give: {source.config} vs {self.model.config}")
        self.model.load_state_dict(source.state_dict())
        logger.info("CRM reconstruction: weights initialised from %s", path)

    @property
    def generated_per_step(self) -> int:
        """How many of each step's objects come from the generated pool (0 without one)."""
        return 0 if self.pool is None else round(self.crm.generated_fraction * self.crm.objects_per_step)

    # ------------------------------------------------------------------------------ the system interface
    def phase(self, step: int) -> int:  # noqa: ARG002 (one phase)
        return 0

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return self.model.parameter_groups()

    def trainable_groups(self, phase: int) -> set[str]:  # noqa: ARG002 (one phase)
        return ALL_GROUPS

    def pretrained_model(self) -> ReconstructionModel:
        return self.model

    @torch.no_grad()
    def sample_batch(self, step: int, generator: torch.Generator) -> ReconstructionBatch:  # noqa: ARG002
        """``crm.objects_per_step`` training objects and ``crm.supervision_views`` cameras each (all from
        ``generator``): the UNet input (first :attr:`generated_per_step` objects from the generated pool, the
        rest rendered) and the supervision targets, rendered."""
        c = self.crm
        inputs, objects = [], []
        if self.generated_per_step:
            picked = torch.randint(len(self.pool), (self.generated_per_step,), generator=generator)
            inputs.append(crm_unet_input(self.pool.views[picked], self.pool.ccms[picked]))
            objects.extend(self.pool.objects[int(i)] for i in picked)
        rendered = [sample_training_object(generator) for _ in range(c.objects_per_step - len(objects))]
        if rendered:
            inputs.append(render_unet_inputs(rendered, self.model.config.tile_size, c.mesh_resolution,
                                             self.rasterizer))
        objects.extend(rendered)
        unet_input = torch.cat(inputs)
        cameras = sample_cameras(len(objects) * c.supervision_views, tuple(c.elevation_range), (-180.0, 180.0),
                                 tuple(c.distance_range), tuple(c.fov_range), generator=generator)
        targets = [render_albedo_views(obj.mesh(c.mesh_resolution), cameras[self._views(b)],
                                       c.supervision_resolution, self.rasterizer) for b, obj in enumerate(objects)]
        target = _cat_views(targets, self.device)
        return ReconstructionBatch(unet_input.to(self.device), cameras.to(self.device), target)

    def _views(self, index: int) -> slice:
        v = self.crm.supervision_views
        return slice(index * v, (index + 1) * v)

    def forward(self, batch: ReconstructionBatch) -> StepOutput:
        c = self.crm
        triplane = self.model(batch.unet_input)
        fields = self.model.grid_fields(triplane, self.grid)
        scale = self.model.config.flexicubes_weight_scale
        renders, deviation, sign, empty = [], [], [], 0
        for b in range(triplane.shape[0]):
            weights = fields.weights[b]
            out = flexicubes(self.grid, fields.sdf[b], weights[:, :12], weights[:, 12:20], weights[:, 20],
                             fields.deformation[b], weight_scale=scale, training=True)
            mesh = out.mesh
            empty += int(mesh.is_empty)
            colors = (self.model.color(triplane[b : b + 1], mesh.vertices[None])[0] if not mesh.is_empty
                      else mesh.vertices.new_zeros(0, 3))
            renders.append(render_albedo_views(Mesh(mesh.vertices, mesh.faces, colors), batch.cameras[self._views(b)],
                                               c.supervision_resolution, self.rasterizer))
            deviation.append(out.deviation)
            sign.append(flexicubes_sign_loss(self.grid, fields.sdf[b]))
        terms = reconstruction_losses(_cat_views(renders, self.device), batch.target)
        terms["deviation"] = torch.stack(deviation).mean()
        terms["sign"] = torch.stack(sign).mean()
        terms["flexicubes_weights"] = flexicubes_weight_loss(
            fields.weights[..., :12], fields.weights[..., 12:20], fields.weights[..., 20])
        weights = {"color": c.color_weight, "mask": c.mask_weight, "depth": c.depth_weight,
                   "deviation": c.deviation_weight, "sign": c.sign_weight,
                   "flexicubes_weights": c.flexicubes_weight_weight}
        loss = sum(weights[name] * value for name, value in terms.items())
        scalars = {f"loss/{name}": float(value.detach()) for name, value in terms.items()}
        scalars["train/empty_meshes"] = float(empty)
        return StepOutput(loss, scalars, {"empty_meshes": empty})

    def callbacks(self) -> list[Callback]:
        t = self.config.trainer
        callbacks: list[Callback] = [PreviewGridCallback(self, t.image_every)]
        if t.evaluate_at_end:
            callbacks.append(HeldOutEvaluationCallback(self))
        return callbacks

    # ------------------------------------------------------------------------- previews and evaluation
    @torch.no_grad()
    def preview_grid(self, count: int) -> Tensor:
        """Per held-out object (``count`` spread over the set), one row: its six input views | predicted
        novel views | target novel views, ``[count * (6 + 2 V), 3, R, R]`` (V = ``crm.eval_views``)."""
        c = self.crm
        objects = held_out_objects()
        objects = [objects[(i * len(objects)) // count] for i in range(min(count, len(objects)))]
        meshes = reconstruct(self.model, objects, self.rasterizer, c.mesh_resolution, c.eval_grid_resolution)
        cameras = novel_cameras(c.eval_views)
        rows = []
        for obj, mesh in zip(objects, meshes):
            truth = obj.mesh(c.mesh_resolution)
            inputs = render_crm_views(truth.vertices, truth.faces, truth.vertex_colors, c.eval_resolution,
                                      self.rasterizer).rgb
            predicted = render_albedo_views(mesh, cameras, c.eval_resolution, self.rasterizer).rgb
            target = render_albedo_views(truth, cameras, c.eval_resolution, self.rasterizer).rgb
            rows.append(torch.cat([inputs, predicted, target]).cpu())
        return torch.cat(rows)

    def evaluate_held_out(self) -> dict:
        """The held-out evaluation of :mod:`atom.evaluation.reconstruction` on the current model."""
        c = self.crm
        return evaluate_reconstruction(self.model, held_out_objects(), self.rasterizer, c.mesh_resolution,
                                       c.eval_views, c.eval_resolution, c.eval_grid_resolution)


def _cat_views(views: list[RenderedViews], device: torch.device) -> RenderedViews:
    return RenderedViews(*(torch.cat([getattr(v, name) for v in views]).to(device)
                           for name in ("rgb", "mask", "depth", "hard_mask")))


class PreviewGridCallback(Callback):
    """``<run>/renders/step_XXXXXXX.png``: :meth:`CRMSystem.preview_grid` every ``every`` steps (0: never) and
    at the end."""

    def __init__(self, system: CRMSystem, every: int) -> None:
        self.system, self.every = system, every

    def on_step_end(self, context: CallbackContext) -> None:
        if self.every > 0 and context.step % self.every == 0:
            self.write(context)

    def on_train_end(self, context: CallbackContext) -> dict:
        return self.write(context)

    def write(self, context: CallbackContext) -> dict:
        count = self.system.crm.preview_objects
        images = self.system.preview_grid(count)
        out_dir = context.run_dir / "renders"
        out_dir.mkdir(exist_ok=True)
        path = out_dir / f"step_{context.step:07d}.png"
        image_grid(images, rows=count).save(path)
        context.logger.log_image("renders", path, context.step,
                                 caption="held out: six input views | predicted | target")
        return {"render_grid": str(path)}


class HeldOutEvaluationCallback(Callback):
    """At the end: the held-out table (printed by ``atom.train``) and ``<run>/heldout_metrics.json``."""

    def __init__(self, system: CRMSystem) -> None:
        self.system = system

    def on_train_end(self, context: CallbackContext) -> dict:
        results = self.system.evaluate_held_out()
        path = Path(context.run_dir) / "heldout_metrics.json"
        path.write_text(json.dumps(results, indent=2, default=float))
        context.logger.log_scalars(summary_scalars(results), context.step)
        return {"metrics": str(path), "tori_with_hole": results["tori_with_hole"],
                "metrics_table": format_reconstruction_table(results, per_object=True)}
