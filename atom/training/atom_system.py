"""AToM's training system: amortized text-to-mesh by score distillation, in two stages.

One network (``TextToMeshModel``: text -> triplane -> SDF / deformation / color heads) is trained on many
prompts at once. A step draws ``B`` prompts of this rank's shard and ``V`` views per prompt (cameras, a
shading mode and a light per view, all from the loop RNG), renders every prompt's field from its views, and
backpropagates the SDS gradient of the frozen diffusion model (global torch RNG for its noise) plus the
regularisers:

- stage 1 (steps ``< stage1.steps``): NeuS volume rendering at low resolution, eikonal loss; the deformation
  head is frozen and the NeuS sharpness trains;
- stage 2: mesh extraction (``stage2.geometry``: DMTet, or FlexiCubes with the model's weight head) +
  rasterization at higher resolution, normal-consistency and Laplacian losses (and a pull towards the
  initial sphere for a prompt whose mesh vanished; with FlexiCubes also its ``L_dev``, sign-change and
  weight-L1 regularisers); the whole network trains, the NeuS sharpness is frozen. The weight head exists
  only with FlexiCubes and trains only in stage 2. ``geometry.backend`` picks whose extractors run
  (logged once at start; kaolin when asked and missing is an error).

Text embeddings are computed once at start (through the on-disk embedding cache when ``embedding_cache`` is
set); when every prompt is already cached, no text encoder is built at all. With prompt augmentation
(``prompts.wordings``, `atom.prompts.wordings`) the generator reads, per drawn prompt, its own text or another
wording of it (drawn with the loop RNG); the SDS target always uses the prompt's own view-dependent text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from enum import Enum

import torch
from torch import Tensor, nn

from atom.build import build_guidance, build_model, build_prompt_set, build_prompt_wordings, build_text_encoder
from atom.config import TextConfig, TrainConfig
from atom.geometry import Mesh, mesh_extractor
from atom.model import TextToMeshModel, extraction_grid, triplanes_to_meshes
from atom.prompts import PromptSet, ViewDependentEmbeddings
from atom.prompts.views import resolve_view_scheme
from atom.render import (
    SHADING_MODES,
    Cameras,
    NeuSRenderer,
    ViewShading,
    make_rasterizer,
    random_light_directions,
    sample_cameras,
    turntable,
)
from atom.text import EmbeddingCache, TextEmbeddings
from atom.training import distributed as dist_utils
from atom.training.atom_callbacks import MeshExportCallback, RenderGridCallback, ToyEvaluationCallback
from atom.training.callbacks import Callback
from atom.training.stages import StageOutput, Views, render_stage1, render_stage2
from atom.training.system import StepOutput, TrainingSystem

logger = logging.getLogger(__name__)

#: parameter groups that train in each stage: the deformation head and the FlexiCubes weight head (present only
#: with stage2.geometry=flexicubes) only act on the extracted mesh (stage 2), the NeuS sharpness only in volume
#: rendering (stage 1)
STAGE_GROUPS = {1: {"front_end", "sdf", "color", "variance"},
                2: {"front_end", "sdf", "color", "deformation", "flexicubes_weights"}}
#: turntable views per prompt in the preview grids
PREVIEW_VIEWS = 4
#: prompts per forward pass when extracting meshes for export and evaluation
EXTRACT_BATCH = 8


@dataclass
class PromptBatch:
    """One step's batch: ``prompt_ids [B]`` (indices into the prompt set), ``text_ids [B]`` (the wording the
    generator reads: an index into the system's texts, equal to ``prompt_ids`` without prompt augmentation) and
    their ``B * V`` views."""

    step: int
    prompt_ids: Tensor
    text_ids: Tensor
    views: Views


def encoder_settings(cfg: TextConfig) -> str:
    """A canonical JSON of a text-encoder config: the embedding cache's key for "the encoder this builds"."""
    values = {k: (v.name if isinstance(v, Enum) else v) for k, v in dataclasses.asdict(cfg).items()}
    return json.dumps(values, sort_keys=True)


def regularizer_weights(cfg: TrainConfig, phase: int, geometry: str) -> dict[str, float]:
    """The loss weight of each regulariser that stage ``phase`` (1: NeuS, 2: mesh extracted by ``geometry``)
    returns in ``StageOutput.losses``."""
    if phase == 1:
        return {"eikonal": cfg.stage1.eikonal_weight, "opacity": cfg.stage1.opacity_weight}
    weights = {"normal_consistency": cfg.stage2.normal_consistency_weight,
               "laplacian": cfg.stage2.laplacian_weight, "empty_recovery": cfg.stage2.empty_recovery_weight}
    if geometry == "flexicubes":
        weights |= {"flexicubes_deviation": cfg.stage2.flexicubes_deviation_weight,
                    "flexicubes_sign": cfg.stage2.flexicubes_sign_weight,
                    "flexicubes_weights": cfg.stage2.flexicubes_weight_l1_weight}
    return weights


class AToMSystem(TrainingSystem):
    """AToM's two-stage SDS training of a ``TextToMeshModel`` (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, device: torch.device,
                 ctx: dist_utils.DistributedContext | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.device = device
        ctx = ctx or dist_utils.DistributedContext()
        self.prompts: PromptSet = build_prompt_set(cfg.prompts)
        self.train_indices = dist_utils.shard(list(self.prompts.train), ctx)
        self.wordings = build_prompt_wordings(cfg.prompts, self.prompts)
        if self.wordings is not None:
            logger.info("prompt augmentation: %d other wordings of the train prompts, each prompt's own text kept "
                        "with probability %.2f", self.wordings.num_extra, cfg.prompts.keep_wording_probability)
        self.text, self.view_embeddings = self._embeddings()
        if self.text.tokens.shape[-1] != cfg.model.text_dim:
            raise ValueError(
                f"the text encoder gives {self.text.tokens.shape[-1]}-d tokens but model.text_dim is "
                f"{cfg.model.text_dim}: set model.text_dim={self.text.tokens.shape[-1]}")
        self.geometry = cfg.stage2.geometry.value
        self.backend = cfg.geometry.backend.value
        mesh_extractor(self.geometry, self.backend)  # fails now (kaolin missing), and logs the choice once
        self.model: TextToMeshModel = build_model(cfg.model, cfg.stage2.geometry).to(device)
        self.neus = NeuSRenderer(
            num_samples=cfg.stage1.num_samples, num_importance=cfg.stage1.num_importance,
            bound=cfg.model.bound, init_inv_std=cfg.stage1.init_inv_std).to(device)
        self.guidance = build_guidance(cfg.guidance, device)
        if self.guidance.embedding_dim != self.view_embeddings.dim:
            raise ValueError(
                f"the guidance model expects text embeddings of width {self.guidance.embedding_dim} but its text "
                f"encoder gives {self.view_embeddings.dim}: set guidance.text to the model's own encoder")
        self.rasterizer = make_rasterizer(cfg.render.rasterizer.value)
        self.grid = extraction_grid(self.geometry, cfg.stage2.grid_resolution, cfg.model.bound, device)
        logger.info(
            "model %.2fM parameters; %d prompts (%d train on this rank, %d held out); guidance %s",
            sum(p.numel() for p in self.model.parameters()) / 1e6, len(self.prompts.prompts),
            len(self.train_indices), len(self.prompts.test), cfg.guidance.path)

    # ---------------------------------------------------------------------------------------------- setup
    def _embeddings(self) -> tuple[TextEmbeddings, ViewDependentEmbeddings]:
        """Every prompt (and, with prompt augmentation, every other wording after them) encoded once by the
        model's encoder, every prompt with view suffixes by the guidance's encoder, then the encoders dropped.
        With a cache that already holds everything, no encoder is built.

        The view suffixes follow ``guidance.view_scheme``, which must match the one the guidance model's folder
        records (`atom.prompts.views.resolve_view_scheme`)."""
        cfg = self.config
        scheme = resolve_view_scheme(cfg.guidance.view_scheme.value, cfg.guidance.path)
        logger.info("view-dependent prompts: view scheme %r %s", scheme.name, scheme.labels)
        prompts = list(self.prompts.prompts)
        texts = prompts if self.wordings is None else list(self.wordings.texts)  # texts[:len(prompts)] == prompts
        guidance_text = cfg.guidance.text or cfg.text
        cache = EmbeddingCache(cfg.embedding_cache) if cfg.embedding_cache else None
        if cache is not None:
            text_identity = cache.encoder_identity(encoder_settings(cfg.text))
            guidance_identity = cache.encoder_identity(encoder_settings(guidance_text))
            if text_identity is not None and guidance_identity is not None:
                try:
                    text = cache.load(text_identity, texts)
                    views = ViewDependentEmbeddings.from_cache(cache, guidance_identity, prompts,
                                                               cfg.guidance.negative_prompt, scheme)
                except KeyError as missing:
                    logger.info("embedding cache incomplete, building the text encoder: %s", missing)
                else:
                    logger.info("all %d texts found in the embedding cache %s: no text encoder built",
                                len(texts), cache.directory)
                    return text.to(self.device), views.to(self.device)
        encoder = build_text_encoder(cfg.text, self.device)
        text = cache.get_or_encode(encoder, texts) if cache else encoder.encode(texts)
        guidance_encoder = encoder if cfg.guidance.text is None else build_text_encoder(cfg.guidance.text,
                                                                                         self.device)
        views = ViewDependentEmbeddings.build(
            guidance_encoder, prompts, cache=cache, negative_prompt=cfg.guidance.negative_prompt, scheme=scheme)
        if cache is not None:
            cache.remember_encoder(encoder_settings(cfg.text), encoder.identity)
            cache.remember_encoder(encoder_settings(guidance_text), guidance_encoder.identity)
        return text.to(self.device), views.to(self.device)  # training never holds the encoders

    def guidance_cameras(self, cameras: Cameras) -> Tensor | None:
        """[B * V, K] features of the cameras the views were rendered from, for a camera-conditioned guidance
        model (`atom.guidance.camera_conditioning`; its folder says so); None for any other."""
        features = self.guidance.camera_features_for(cameras.azimuth, cameras.elevation)
        return None if features is None else features.to(self.device)

    def view_labels(self, cameras: Cameras) -> list[str]:
        """The view suffix of each camera's prompt, named by the guidance's view scheme (``guidance.view_scheme``,
        the one the toy prior's training captions used: `atom.prompts.views.ViewScheme`)."""
        return self.view_embeddings.scheme.view_labels(cameras.azimuth, cameras.elevation)

    def train(self, mode: bool = True) -> AToMSystem:
        """Train mode for the trained parts; the frozen guidance model always stays in eval mode."""
        super().train(mode)
        self.guidance.eval()
        return self

    # ------------------------------------------------------------------------------ the system interface
    def phase(self, step: int) -> int:
        return 1 if step < self.config.stage1.steps else 2

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {**self.model.parameter_groups(), "variance": list(self.neus.parameters())}

    def trainable_groups(self, phase: int) -> set[str]:
        return STAGE_GROUPS[phase]

    def sample_batch(self, step: int, generator: torch.Generator) -> PromptBatch:
        """``trainer.prompts_per_step`` prompts of this rank's shard, ``render.views_per_prompt`` views each:
        cameras in the configured ranges, shading modes drawn with ``render.shading_probs``, lights near
        the cameras."""
        r = self.config.render
        picks = torch.randint(len(self.train_indices), (self.config.trainer.prompts_per_step,), generator=generator)
        prompt_ids = torch.tensor(self.train_indices)[picks].to(self.device)
        n = len(prompt_ids) * r.views_per_prompt
        cameras = sample_cameras(n, tuple(r.elevation_range), tuple(r.azimuth_range), tuple(r.distance_range),
                                 tuple(r.fov_range), generator=generator).to(self.device)
        probs = torch.tensor(list(r.shading_probs), dtype=torch.float)
        modes = [SHADING_MODES[i] for i in torch.multinomial(probs, n, replacement=True, generator=generator)]
        lights = random_light_directions(cameras.position().cpu(), generator=generator).to(self.device)
        shading = ViewShading(modes, lights, torch.tensor(list(r.background), device=self.device), r.ambient)
        text_ids = prompt_ids if self.wordings is None else self.wordings.sample(
            prompt_ids.cpu(), self.config.prompts.keep_wording_probability, generator).to(self.device)
        return PromptBatch(step, prompt_ids, text_ids, Views(cameras, shading))

    def render(self, triplanes: Tensor, views: Views, phase: int) -> StageOutput:
        """The stage's renders of ``triplanes [B, 3, C, R, R]`` from ``views`` (B * V, prompt-major)."""
        cfg = self.config
        if phase == 1:
            return render_stage1(self.model, triplanes, self.neus, views, cfg.stage1.resolution)
        return render_stage2(self.model, triplanes, self.grid, self.rasterizer, views, cfg.stage2.resolution,
                             self.backend)

    def forward(self, batch: PromptBatch) -> StepOutput:
        cfg = self.config
        phase = self.phase(batch.step)
        if cfg.stage1.cos_anneal_steps > 0:
            self.neus.cos_anneal_ratio = min(1.0, batch.step / cfg.stage1.cos_anneal_steps)
        text = self.text[batch.text_ids]
        triplanes = self.model(text.tokens, text.mask)
        out = self.render(triplanes, batch.views, phase)
        weights = regularizer_weights(cfg, phase, self.geometry)
        view_ids = batch.prompt_ids.repeat_interleave(cfg.render.views_per_prompt)
        cond, uncond = self.view_embeddings.lookup(view_ids, self.view_labels(batch.views.cameras))
        sds = self.guidance(out.images.float(), cond, uncond, progress=batch.step / cfg.trainer.max_steps,
                            camera_features=self.guidance_cameras(batch.views.cameras))
        loss = sds.loss + sum(w * out.losses[k] for k, w in weights.items())
        scalars = {
            "loss/sds": float(sds.loss.detach()), **{f"loss/{k}": float(v.detach()) for k, v in out.losses.items()},
            "sds/timestep": float(sds.timesteps.float().mean()), "sds/grad_norm": float(sds.grad_norm),
            "train/stage": float(phase), "train/empty_meshes": float(len(out.empty_prompts)),
            "train/inv_std": float(self.neus.inv_std().detach()), "train/cos_anneal_ratio": self.neus.cos_anneal_ratio,
        }
        return StepOutput(loss, scalars, {"empty_meshes": len(out.empty_prompts)})

    def pretrained_model(self) -> TextToMeshModel:
        return self.model

    def extra_state(self) -> dict[str, Tensor]:
        return dict(self.neus.state_dict())

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        self.neus.load_state_dict(state)

    def callbacks(self) -> list[Callback]:
        t = self.config.trainer
        callbacks: list[Callback] = [RenderGridCallback(self, self.prompts, t.image_every, t.image_prompts)]
        if t.export_at_end:
            callbacks.append(MeshExportCallback(self, self.prompts, t.export_grid_resolution, 2 * t.image_prompts))
        if t.evaluate_at_end and self.prompts.name == "toy64":
            callbacks.append(ToyEvaluationCallback(self, self.prompts, t.export_grid_resolution))
        return callbacks

    # ------------------------------------------------------------------------- previews and evaluation
    @torch.no_grad()
    def preview_renders(self, prompt_ids: list[int], step: int) -> Tensor:
        """Turntable renders ``[len(prompt_ids) * PREVIEW_VIEWS, 3, H, W]`` with the renderer of the stage
        that ran the last step before ``step``; Lambertian under a head light."""
        cfg = self.config
        self.model.eval()
        ids = torch.tensor(prompt_ids, device=self.device)
        text = self.text[ids]
        triplanes = self.model(text.tokens, text.mask)
        cams = turntable(PREVIEW_VIEWS).to(self.device)
        cameras = cams[torch.arange(PREVIEW_VIEWS).repeat(len(prompt_ids))]
        lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
        shading = ViewShading(["lambertian"] * len(cameras), lights,
                              torch.tensor(list(cfg.render.background), device=self.device), cfg.render.ambient)
        images = self.render(triplanes, Views(cameras, shading), self.phase(max(step - 1, 0))).images
        self.model.train()
        return images

    @torch.no_grad()
    def extract_meshes(self, prompt_ids: list[int], grid_resolution: int) -> list[Mesh]:
        """One colored mesh per prompt with the stage-2 extractor on a grid of ``grid_resolution`` cells per axis."""
        grid = extraction_grid(self.geometry, grid_resolution, self.config.model.bound, self.device)
        self.model.eval()
        meshes: list[Mesh] = []
        for start in range(0, len(prompt_ids), EXTRACT_BATCH):
            ids = torch.tensor(prompt_ids[start : start + EXTRACT_BATCH], device=self.device)
            text = self.text[ids]
            meshes += triplanes_to_meshes(self.model, self.model(text.tokens, text.mask), grid,
                                          backend=self.backend)
        self.model.train()
        return meshes
