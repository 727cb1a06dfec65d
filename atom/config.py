"""Typed configuration schema for training, inference and evaluation.

Every YAML file under ``conf/`` merges into these dataclasses, so Hydra itself rejects an unknown key
("Key 'foo' not in 'TrainerConfig'") or a bad value ("Invalid value 'x', expected one of [...]") before any
work starts. Choices between implementations are enums, not string registries: ``atom.build`` maps each
enum member to its class explicitly.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from atom.model.generator import GeneratorConfig

#: the Hydra config tree (``conf/`` at the repository root; the package is installed editable)
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
#: assets that ship inside the package (the toy prior's weights)
ASSET_DIR = Path(__file__).resolve().parent / "weights"


class TextEncoderKind(Enum):
    minilm = "minilm"
    t5 = "t5"
    clip = "clip"


class GuidanceKind(Enum):
    pixel = "pixel"  # DeepFloyd IF stage I and the toy prior
    latent = "latent"  # Stable Diffusion, through its VAE


class PromptSource(Enum):
    toy64 = "toy64"
    list = "list"
    file = "file"
    grid = "grid"


class RasterizerBackend(Enum):
    torch = "torch"
    nvdiffrast = "nvdiffrast"
    auto = "auto"


class LoggerKind(Enum):
    wandb = "wandb"
    jsonl = "jsonl"
    none = "none"


class MeshFormat(Enum):
    glb = "glb"
    obj = "obj"
    ply = "ply"


class TextureMode(Enum):
    vertex = "vertex"  # per-vertex colours from the colour head
    uv = "uv"  # xatlas unwrap + a texture image baked from the colour head (GLB only)


class Precision(Enum):
    fp32 = "fp32"
    bf16 = "bf16"  # autocast to bfloat16 (CUDA only)
    fp16 = "fp16"  # autocast to float16 with torch's GradScaler (CUDA only)


class InterpolationMode(Enum):
    linear = "linear"
    slerp = "slerp"


@dataclass
class TextConfig:
    """A frozen text encoder. ``path`` is a hub id or a local folder; ``None`` means the encoder's default."""

    kind: TextEncoderKind = TextEncoderKind.minilm
    path: str | None = None
    subfolder: str | None = None
    tokenizer_subfolder: str | None = None
    max_length: int = 32
    dtype: str = "float32"
    load_in_8bit: bool = False


def _mutable_schema(frozen: type, name: str) -> type:
    """A mutable dataclass with the fields, types and defaults of ``frozen`` (Hydra makes frozen dataclasses
    read-only, which would refuse command-line overrides); keeps one source of truth for the sizes."""
    hints = typing.get_type_hints(frozen)
    fields = [(f.name, hints[f.name], field(default=f.default)) for f in dataclasses.fields(frozen)]
    schema = dataclasses.make_dataclass(name, fields)
    schema.__doc__ = f"Hydra schema of ``{frozen.__module__}.{frozen.__qualname__}``: {frozen.__doc__.splitlines()[0]}"
    return schema


#: the text-to-triplane generator (``atom.model.GeneratorConfig``, field for field)
ModelConfig = _mutable_schema(GeneratorConfig, "ModelConfig")


@dataclass
class GuidanceConfig:
    """Score distillation. ``text`` is the guidance model's own encoder (null: share the model's)."""

    kind: GuidanceKind = GuidanceKind.pixel
    path: str = "DeepFloyd/IF-I-XL-v1.0"
    guidance_scale: float = 20.0
    resolution: int = 64
    weighting: str = "sds"
    t_min: float = 0.02
    t_max: float = 0.98
    anneal: str = "none"
    final_t_max: float = 0.5
    dtype: str = "float32"
    channels_last: bool = False
    attention_slicing: bool = False
    grad_clip: float | None = None
    negative_prompt: str = ""
    text: TextConfig | None = None


@dataclass
class PromptsConfig:
    """Where the prompts come from. ``file``: one prompt per line; ``grid``: template + slots, diagonal held out."""

    source: PromptSource = PromptSource.toy64
    file: str | None = None
    prompts: list[str] = field(default_factory=list)
    test_prompts: list[str] = field(default_factory=list)
    template: str | None = None
    slots: dict[str, list[str]] = field(default_factory=dict)
    holdout: str = "diagonal"


@dataclass
class RenderConfig:
    """Cameras and shading shared by both stages (angles in degrees, distances in world units)."""

    rasterizer: RasterizerBackend = RasterizerBackend.torch
    views_per_prompt: int = 2
    elevation_range: tuple[float, float] = (-10.0, 45.0)
    azimuth_range: tuple[float, float] = (-180.0, 180.0)
    distance_range: tuple[float, float] = (2.5, 3.0)
    fov_range: tuple[float, float] = (40.0, 45.0)
    # probabilities of albedo / lambertian / textureless shading per view (DreamFusion-style randomisation)
    shading_probs: tuple[float, float, float] = (0.2, 0.6, 0.2)
    ambient: float = 0.3
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass
class Stage1Config:
    """NeuS volume rendering at low resolution; the deformation head is frozen."""

    steps: int = 1000
    resolution: int = 32
    num_samples: int = 32
    num_importance: int = 16
    eikonal_weight: float = 0.1
    init_inv_std: float = 0.3
    # NeuS's cosine annealing: the ratio goes linearly 0 -> 1 over this many steps (0: plain NeuS from step 0)
    cos_anneal_steps: int = 0


@dataclass
class Stage2Config:
    """DMTet extraction + rasterization at higher resolution; the whole network trains."""

    resolution: int = 64
    grid_resolution: int = 32
    normal_consistency_weight: float = 0.1
    laplacian_weight: float = 0.1
    # an empty mesh's SDF is pulled towards the initial sphere (mean squared difference on the grid)
    empty_recovery_weight: float = 1.0


@dataclass
class OptimConfig:
    """AdamW with one learning rate per parameter group, linear warm-up then cosine decay."""

    lr_front_end: float = 1e-3
    lr_sdf: float = 1e-3
    lr_deformation: float = 1e-4
    lr_color: float = 1e-3
    lr_variance: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0


@dataclass
class TrainerConfig:
    max_steps: int = 2000
    prompts_per_step: int = 4
    device: str = "auto"
    precision: Precision = Precision.fp32
    checkpoint_every: int = 200
    keep_last: int = 3
    resume: str = "auto"  # auto | none | a checkpoint/run directory
    log_every: int = 10
    image_every: int = 200
    image_prompts: int = 4
    export_at_end: bool = True
    evaluate_at_end: bool = True
    export_grid_resolution: int = 64
    progress: bool = True


@dataclass
class LoggerConfig:
    kind: LoggerKind = LoggerKind.wandb
    mode: str = "offline"  # offline | online | disabled
    project: str = "atom"
    entity: str | None = None
    name: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class TrainConfig:
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = 0
    embedding_cache: str | None = None
    run_dir: str | None = None


@dataclass
class EvaluateConfig:
    """``python -m atom.evaluate ckpt=...``: toy-world metrics of a checkpoint (all 64 prompts by default)."""

    ckpt: str = MISSING
    prompts: list[str] = field(default_factory=list)
    grid_resolution: int = 64
    device: str = "auto"
    output: str | None = None  # default: <checkpoint>/evaluation.json


@dataclass
class ExportConfig:
    """How each mesh is written: file format and where its colour lives (texture sizes in pixels)."""

    format: MeshFormat = MeshFormat.glb
    texture: TextureMode = TextureMode.vertex
    texture_resolution: int = 512
    texture_dilation: int = 4  # pixels of colour bled past the UV charts so seams never show background


@dataclass
class PostprocessConfig:
    """Mesh clean-up before export (see ``atom.geometry.postprocess``)."""

    largest_component: bool = False
    min_component_fraction: float = 0.01  # drop floaters with fewer faces than this share of the mesh
    target_faces: int | None = None  # quadric decimation to about this many faces (needs fast-simplification)
    normalize: bool = False  # centre the bounding box at the origin and scale its longest side to 2 (fit [-1, 1])


@dataclass
class PreviewConfig:
    """Turntable previews (PNG grid + GIF) rendered with the project's rasterizer; angles in degrees."""

    enabled: bool = True
    views: int = 8
    resolution: int = 192
    elevation: float = 15.0
    distance: float = 2.8
    fov: float = 40.0
    filmstrip_azimuth: float = 30.0  # the one view per interpolation step
    frame_ms: int = 150  # GIF frame duration
    rasterizer: RasterizerBackend = RasterizerBackend.torch


@dataclass
class InterpolateConfig:
    """Walk the text embeddings between consecutive prompts; nothing happens while ``prompts`` is empty."""

    prompts: list[str] = field(default_factory=list)
    steps: int = 5  # meshes per pair of prompts, both ends included
    mode: InterpolationMode = InterpolationMode.linear


@dataclass
class InferConfig:
    """``python -m atom.infer ckpt=... prompts=[...]``: meshes, previews, index.html and summary.json."""

    ckpt: str = MISSING
    prompts: list[str] = field(default_factory=list)
    prompts_file: str | None = None  # one prompt per line, added after ``prompts``
    out_dir: str | None = None  # default: outputs/infer/<date_time>
    overwrite: bool = False
    grid_resolution: int = 64
    batch_size: int = 8  # prompts per forward pass
    device: str = "auto"
    progress: bool = True
    export: ExportConfig = field(default_factory=ExportConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    preview: PreviewConfig = field(default_factory=PreviewConfig)
    interpolate: InterpolateConfig = field(default_factory=InterpolateConfig)


def asset_path(name: str) -> str:
    """``${atom_asset:toy_prior}`` in a config -> the folder of that asset inside the installed package."""
    return str(ASSET_DIR / name)


def register_configs() -> None:
    """Make the schema known to Hydra (``conf/train.yaml`` lists ``train_schema`` first) and the resolver."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="evaluate_schema", node=EvaluateConfig)
    store.store(name="infer_schema", node=InferConfig)
    if not OmegaConf.has_resolver("atom_asset"):
        OmegaConf.register_new_resolver("atom_asset", asset_path)
    if not OmegaConf.has_resolver("atom_first"):  # ${atom_first:${run_dir},outputs/...}: Hydra's files follow run_dir
        OmegaConf.register_new_resolver("atom_first", lambda *values: next((v for v in values if v is not None), None))
