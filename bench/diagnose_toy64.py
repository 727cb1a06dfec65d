"""Why are toy64's meshes solids of revolution? Direct measurements (issue 13 item 1), each a subcommand.

    python bench/diagnose_toy64.py cameras   # trainer cameras/labels vs the prior's data; a cube through each path
    python bench/diagnose_toy64.py x0        # where the guided x0 (the SDS target) moves a cube / a barrel render
    python bench/diagnose_toy64.py captions  # how far each caption word (view, color, shape) moves the prediction
    python bench/diagnose_toy64.py colors    # the color of the SDS target (guided x0) and of samples, per color
    python bench/diagnose_toy64.py samples   # the prior's own cube samples: cube or barrel silhouettes, which yaw
    python bench/diagnose_toy64.py init      # symmetry at initialisation; can the network represent a cube/torus
    python bench/diagnose_toy64.py single --prompt "a red cube"   # single-prompt SDS, free triplane, no amortization
    python bench/diagnose_toy64.py hole --run RUN   # a trained run's tori: is the hole filled, and painted how
    python bench/diagnose_toy64.py wordings  # can the frozen text encoder tell the held-out paraphrases apart

Every part reuses the project's code paths: the trainer's ``sample_views`` and stage renderers (fed an analytic
field through a small stand-in for the generator), the prior-data renderer (`atom.toyworld.renders`), `PixelSDS`
as configured by ``experiment=toy64``, and the toy metrics (azimuthal ratio, genus). Images are compared at the
prior's 32 px after `resize_images`, as SDS sees them. Silhouettes: a pixel is foreground when
``1 - min(r, g, b) > 0.2`` (`atom.toyworld.prior_check.FOREGROUND_THRESHOLD`). Each subcommand takes 1-5 minutes
of one CPU core and prints Markdown tables (bench/RESULTS.md, "Why toy64 meshes are solids of revolution").
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atom.build import build_guidance, build_model, build_text_encoder
from atom.config import CONF_DIR, RenderConfig, register_configs
from atom.evaluation.reconstruction import largest_component_genus
from atom.geometry import Mesh, marching_tetrahedra, tetrahedral_grid
from atom.guidance.camera_conditioning import camera_feature_dim, camera_features
from atom.guidance.pixel_sds import resize_images
from atom.guidance.timestep_schedule import sds_weight
from atom.model import triplanes_to_meshes
from atom.pipelines.text_to_mesh import TextToMeshPipeline
from atom.prompts.views import ViewDependentEmbeddings, resolve_view_scheme, view_prompt
from atom.render import (
    Cameras,
    NeuSRenderer,
    ViewShading,
    look_at,
    make_rasterizer,
    render_mesh,
    sample_cameras,
    turntable,
)
from atom.render.images import image_grid
from atom.toyworld import renders as prior_data
from atom.toyworld.metrics import azimuthal_distances, component_genera, evaluate_meshes, rotate_about_z
from atom.toyworld.paraphrases import COLOR_SYNONYMS, SHAPE_SYNONYMS, toy64_paraphrases
from atom.toyworld.prior import load_prior, sample_prior
from atom.toyworld.prior_check import FOREGROUND_THRESHOLD, view_camera
from atom.toyworld.renders import GeometryBuffers, render_geometry, shade_geometry
from atom.toyworld.shapes import COLORS, SHAPES, ToyObject, cylinder_sdf, find_object, toy64
from atom.toyworld.wordings import toy64_training_wordings
from atom.training.atom_system import AToMSystem, regularizer_weights
from atom.training.stages import Views, render_stage1, render_stage2

SHAPE_INDEX = {shape.name: index for index, shape in enumerate(SHAPES)}
RED = COLORS[0].rgb
BARREL = {"radius": 0.56, "half_height": 0.5}  # the cube's height; radius between its half-side and half-diagonal
CAMERA = {"elevation": 15.0, "distance": 2.75, "fov": 42.5}


# ----------------------------------------------------------------------------------------------- helpers
def toy64_config(overrides: tuple[str, ...] = ()):
    """The resolved, typed ``experiment=toy64`` training config (as `make train` gets it)."""
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=toy64", "run_dir=/tmp/diagnose_toy64", *overrides])
    return OmegaConf.to_object(cfg)


def sample_views(cfg, count: int, generator: torch.Generator) -> Views:
    """``count`` views of one prompt drawn by the trainer's own `AToMSystem.sample_batch` (cameras, shading
    modes, lights) under ``cfg.render``."""
    trainer = dataclasses.replace(cfg.trainer, prompts_per_step=1)
    render = dataclasses.replace(cfg.render, views_per_prompt=count)
    system = SimpleNamespace(config=dataclasses.replace(cfg, trainer=trainer, render=render), train_indices=[0],
                             device=torch.device("cpu"), wordings=None)  # the prompt's own text, no augmentation
    return AToMSystem.sample_batch(system, 0, generator).views


class AnalyticField:
    """Stands in for `TextToMeshModel` in the trainer's stage renderers: an analytic SDF of one color.

    ``sdf_and_gradient`` uses the generator's central-difference stencil step (``normal_eps`` 0.01), the
    deformation is zero, so stage 2 extracts the SDF on the trainer's tet grid exactly as it would a network's.
    """

    def __init__(self, sdf, rgb, eps: float = 0.01) -> None:
        self._sdf, self.rgb, self.eps = sdf, torch.tensor(rgb), eps
        self.config = SimpleNamespace(sphere_radius=0.5)

    def sdf(self, triplanes, points):  # [B, M, 3] -> [B, M]
        return self._sdf(points)

    def sdf_and_gradient(self, triplanes, points):
        steps = self.eps * torch.eye(3)
        gradient = torch.stack([(self._sdf(points + s) - self._sdf(points - s)) / (2 * self.eps) for s in steps], -1)
        return self._sdf(points), gradient

    def color(self, triplanes, points):
        return self.rgb.expand(*points.shape[:-1], 3)

    def deformation(self, triplane, points, cell_size):
        return torch.zeros_like(points)


def fixed_views(cameras: Cameras, mode: str = "lambertian") -> Views:
    """Trainer `Views` with one shading mode and the light exactly at each camera (no jitter)."""
    lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
    return Views(cameras, ViewShading([mode] * len(cameras), lights, torch.ones(3), 0.3))


def barrel_mesh(resolution: int = 48) -> Mesh:
    grid = tetrahedral_grid(resolution)
    sdf = cylinder_sdf(grid.vertices, BARREL["radius"], BARREL["half_height"])
    return marching_tetrahedra(grid.vertices, grid.tets, sdf)


def render_mesh_images(mesh: Mesh, cameras: Cameras, rgb=RED, size: int = 32) -> torch.Tensor:
    """The prior-data path (`shade_geometry`) for any mesh: rasterize at 2 x size, shade lambertian with the
    light at the camera, composite on white, resize to ``size``. [B, 3, size, size]."""
    out = render_mesh(mesh.vertices, mesh.faces, cameras, 2 * size, make_rasterizer("torch"))
    lights = torch.nn.functional.normalize(cameras.position(), dim=-1)
    return shade_geometry(GeometryBuffers(out.mask, out.normal), rgb, lights, ["lambertian"] * len(cameras), size)


def silhouette(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [0, 1] -> [B, H, W] bool foreground."""
    return (1.0 - images.amin(dim=1)) > FOREGROUND_THRESHOLD


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image IoU of bool masks [B, H, W] (broadcasting)."""
    union = (a | b).flatten(-2).sum(-1).clamp_min(1)
    return (a & b).flatten(-2).sum(-1) / union


def table(header: list[str], rows: list[list]) -> str:
    def fmt(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def view_scheme(cfg):
    """The view scheme the trainer captions its cameras with for this guidance (`guidance.view_scheme`)."""
    return resolve_view_scheme(cfg.guidance.view_scheme.value, cfg.guidance.path)


def encoder_and_guidance(cfg):
    encoder = build_text_encoder(cfg.text, torch.device("cpu"))
    guidance = build_guidance(cfg.guidance, torch.device("cpu"))
    return encoder, guidance


# ----------------------------------------------------------------------------------------------- cameras
def cmd_cameras(args) -> None:
    cfg = toy64_config(tuple(args.override))
    r = cfg.render
    scheme = view_scheme(cfg)

    defaults = {k: v.default for k, v in inspect.signature(prior_data.render_dataset).parameters.items()}
    print("### Camera and shading settings\n")
    rows = [
        ["elevation range (deg)", list(r.elevation_range), list(defaults["elevation_range"])],
        ["azimuth range (deg)", list(r.azimuth_range), list(defaults["azimuth_range"])],
        ["distance range", list(r.distance_range), list(defaults["distance_range"])],
        ["fov range (deg)", list(r.fov_range), list(defaults["fov_range"])],
        ["shading albedo/lambertian/textureless", list(r.shading_probs), "[0.3, 0.7, 0.0] (conf/prior)"],
        ["ambient", r.ambient, defaults["ambient"]],
        ["background", list(r.background), "white"],
    ]
    print(table(["setting", "trainer (toy64)", "prior data"], rows))

    # Draw cameras through the trainer's own sample_views and through the prior data's sampler.
    n = 20000
    trainer_cams = sample_views(cfg, n, torch.Generator().manual_seed(0)).cameras
    prior_cams = sample_cameras(n, defaults["elevation_range"], defaults["azimuth_range"],
                                defaults["distance_range"], defaults["fov_range"],
                                generator=torch.Generator().manual_seed(1))
    print("\n### Sampled cameras (20000 each): label shares and the cube's yaw relative to the camera\n")
    print("yaw: the camera azimuth folded into the cube's symmetry period, 0 = face-on, 45 = corner-on.\n")
    rows = []
    for name, cams in (("trainer", trainer_cams), ("prior data", prior_cams)):
        labels = scheme.view_labels(cams.azimuth, cams.elevation)
        folded = torch.remainder(cams.azimuth, 90.0)
        yaw = torch.minimum(folded, 90.0 - folded)
        for view in scheme.labels:
            pick = torch.tensor([label == view for label in labels])
            share = float(pick.float().mean())
            if share == 0:
                rows.append([name, view, 0.0, "-", "-", "-"])
                continue
            y = yaw[pick]
            rows.append([name, view, share, float((y < 15).float().mean()),
                         float(((y >= 15) & (y < 30)).float().mean()), float((y >= 30).float().mean())])
    print(table(["cameras", "label", "share", "yaw 0-15", "yaw 15-30", "yaw 30-45"], rows))
    # Trainer and prior data name views with the one function of atom.prompts.views.
    print(f"\nview scheme (trainer and prior data): {scheme.name} {scheme.labels}")

    # One ground-truth red cube through every path at the same camera, light and shading.
    cube = SHAPE_INDEX["cube"]
    field = AnalyticField(SHAPES[cube].sdf, RED)
    cfg1, cfg2 = cfg.stage1, cfg.stage2
    dummy = torch.zeros(1, 3, 1, 2, 2)
    rows = []
    for azimuth in (0.0, 30.0, 45.0):
        cams = look_at(CAMERA["elevation"], azimuth, CAMERA["distance"], CAMERA["fov"])
        views = fixed_views(cams)
        prior = shade_geometry(render_geometry(cube, cams, 64, 48), RED, views.shading.light_directions, ["lambertian"],
                               32)
        paths = {}
        grid = tetrahedral_grid(cfg2.grid_resolution)
        paths["stage 2 (DMTet grid 32, 64 px)"] = render_stage2(field, dummy, grid, make_rasterizer("torch"), views,
                                                              cfg2.resolution).images
        for inv_std in (cfg1.init_inv_std, 0.6, 0.8):
            neus = NeuSRenderer(num_samples=cfg1.num_samples, num_importance=cfg1.num_importance,
                                bound=cfg.model.bound, init_inv_std=inv_std)
            with torch.no_grad():
                image = render_stage1(field, dummy, neus, views, cfg1.resolution).images
            paths[f"stage 1 (NeuS 24 px, s = {math.exp(10 * inv_std):.0f})"] = image
        for name, image in paths.items():
            image = resize_images(image, 32)
            diff = (image - prior).abs()
            rows.append([azimuth, name, float(diff.mean()), float(diff.max()),
                         float(iou(silhouette(image), silhouette(prior))[0])])
    print("\n### A ground-truth red cube through the training renderers vs the prior-data renderer "
          "(32 px, lambertian, light at the camera)\n")
    print(table(["azimuth", "training path", "mean abs diff", "max abs diff", "silhouette IoU"], rows))


# ----------------------------------------------------------------------------------------------- x0
def guided_x0(guidance, images, cond, uncond, timestep: int, noise: torch.Tensor, cams: Cameras) -> torch.Tensor:
    """The CFG-guided clean-image estimate that SDS pulls towards: grad = w(t) (eps_hat - noise) =
    w(t) sqrt(a / (1 - a)) (x - x0_hat). Recovered from `PixelSDS.forward` itself; a camera-conditioned prior
    sees ``cams`` (the cameras of ``images``), as in training. Returns [B, 3, 32, 32] in [-1, 1]."""
    batch = images.shape[0]
    t = torch.full((batch,), timestep, dtype=torch.long)
    out = guidance(images, cond, uncond, progress=0.0, timesteps=t, noise=noise,
                   camera_features=guidance.camera_features_for(cams.azimuth, cams.elevation))
    alpha = guidance.alphas_cumprod[t].view(-1, 1, 1, 1)
    eps_hat = noise + out.grad / sds_weight(guidance.alphas_cumprod, t, guidance.weighting).view(-1, 1, 1, 1)
    x = guidance.encode(images)
    x_t = alpha.sqrt() * x + (1 - alpha).sqrt() * noise
    return (x_t - (1 - alpha).sqrt() * eps_hat) / alpha.sqrt()


def cmd_x0(args) -> None:
    cfg = toy64_config(tuple(args.override))
    scheme = view_scheme(cfg)
    encoder, guidance = encoder_and_guidance(cfg)
    print(f"guidance scale {guidance.guidance_scale}, weighting {guidance.weighting}, t in "
          f"[{cfg.guidance.t_min}, {cfg.guidance.t_max}] annealed to {cfg.guidance.final_t_max}\n")
    cube_mesh = ToyObject(SHAPES[SHAPE_INDEX["cube"]], COLORS[0]).ground_truth_mesh(48)
    barrel = barrel_mesh()
    seeds = range(args.seeds)
    rows = []
    for azimuth in (0.0, 45.0):
        cams = look_at(CAMERA["elevation"], azimuth, CAMERA["distance"], CAMERA["fov"])
        label = scheme.view_labels(cams.azimuth, cams.elevation)[0]
        prompt = view_prompt("a red cube", label)
        cond = encoder.encode([prompt])
        uncond = encoder.encode([""], allow_empty=True)
        renders = {"cube": render_mesh_images(cube_mesh, cams), "barrel": render_mesh_images(barrel, cams)}
        masks = {name: silhouette(image) for name, image in renders.items()}
        base_iou = float(iou(masks["cube"], masks["barrel"])[0])
        for source, other in (("cube", "barrel"), ("barrel", "cube")):
            x = renders[source] * 2 - 1
            towards = (renders[other] * 2 - 1) - x  # the direction from this render to the other
            own = [float(iou(masks[source], masks[name])[0]) for name in ("cube", "barrel")]
            rows.append([azimuth, prompt, source, "input", own[0], own[1], own[0] - own[1], "-"])
            for timestep in args.timesteps:
                cube_ious, barrel_ious, cosines = [], [], []
                for seed in seeds:
                    noise = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
                    with torch.no_grad():
                        x0 = guided_x0(guidance, renders[source], cond, uncond, timestep, noise, cams)
                    mask = silhouette(((x0 + 1) / 2).clamp(0, 1))
                    cube_ious.append(float(iou(mask, masks["cube"])[0]))
                    barrel_ious.append(float(iou(mask, masks["barrel"])[0]))
                    step = (x0 - x).flatten()
                    cosines.append(float(torch.nn.functional.cosine_similarity(step, towards.flatten(), dim=0)))
                cube_iou, barrel_iou = statistics.fmean(cube_ious), statistics.fmean(barrel_ious)
                rows.append([azimuth, prompt, source, timestep, cube_iou, barrel_iou, cube_iou - barrel_iou,
                             statistics.fmean(cosines)])
        print(f"azimuth {azimuth:.0f}: silhouette IoU of the cube and barrel renders themselves {base_iou:.3f}")
    print()
    print(table(["azimuth", "prompt", "render", "t", "IoU(x0, cube)", "IoU(x0, barrel)", "cube margin",
                 "cos(x0 - x, other - x)"], rows))
    print(f"\n(mean over {args.seeds} noise seeds; cube margin = IoU with the cube's silhouette minus IoU with the "
          "barrel's: > 0 more cube-like; cos > 0: the SDS step moves the render towards the other shape)")
    yaw_preference(guidance, encoder, cube_mesh, barrel, args, scheme)


def yaw_preference(guidance, encoder, cube_mesh: Mesh, barrel: Mesh, args, scheme) -> None:
    """For a barrel render, which cube does x0 lean to: face-on (yaw 0) or corner-on (yaw 45)? Both cube
    silhouettes are seen from the same camera (the cube rotated by 45 degrees = the camera moved by 45)."""
    rows = []
    uncond = encoder.encode([""], allow_empty=True)
    for azimuth in (0.0, 45.0, 90.0):
        cams = look_at(CAMERA["elevation"], azimuth, CAMERA["distance"], CAMERA["fov"])
        prompt = view_prompt("a red cube", scheme.view_labels(cams.azimuth, cams.elevation)[0])
        cond = encoder.encode([prompt])
        x = render_mesh_images(barrel, cams)
        face = silhouette(render_mesh_images(cube_mesh, look_at(CAMERA["elevation"], 0.0, CAMERA["distance"],
                                                                 CAMERA["fov"])))
        corner = silhouette(render_mesh_images(cube_mesh, look_at(CAMERA["elevation"], 45.0, CAMERA["distance"],
                                                                   CAMERA["fov"])))
        for timestep in args.timesteps:
            margins = []
            for seed in range(args.seeds):
                noise = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
                with torch.no_grad():
                    x0 = guided_x0(guidance, x, cond, uncond, timestep, noise, cams)
                mask = silhouette(((x0 + 1) / 2).clamp(0, 1))
                margins.append(float(iou(mask, face)[0] - iou(mask, corner)[0]))
            rows.append([azimuth, prompt, timestep, statistics.fmean(margins), statistics.pstdev(margins),
                         sum(m > 0 for m in margins) / len(margins)])
    print("\n### x0 of a barrel render: face-on or corner-on cube?\n")
    print(table(["camera azimuth", "prompt", "t", "IoU(x0, face-on) - IoU(x0, corner-on)", "std over seeds",
                 "share of seeds preferring face-on"], rows))


# ----------------------------------------------------------------------------------------------- captions
def cmd_captions(args) -> None:
    """How much each word of the caption moves the prior's prediction: rms difference of the UNet output (v or
    eps) for a red cube rendered at 16 azimuths (elevation 15), same noise, captions differing in one word."""
    cfg = toy64_config(tuple(args.override))
    scheme = view_scheme(cfg)
    encoder = build_text_encoder(cfg.text, torch.device("cpu"))
    unet, scheduler = load_prior(cfg.guidance.path)
    base = f"a red cube, {scheme.labels[0]} view"
    others = [f"a red cube, {view} view" for view in scheme.labels[1:-1]]
    others += ["a blue cube, front view", "a red sphere, front view"]
    tokens = encoder.encode([base, *others]).tokens
    cams = look_at(CAMERA["elevation"], torch.arange(16) * 22.5, CAMERA["distance"], CAMERA["fov"])
    x0 = render_mesh_images(ToyObject(SHAPES[SHAPE_INDEX["cube"]], COLORS[0]).ground_truth_mesh(48), cams) * 2 - 1
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    # a camera-conditioned prior sees each render's own camera; one more column: the same caption with the camera
    # turned 45 degrees (a cube face-on becomes corner-on)
    camera = camera_feature_dim(unet) is not None
    features = camera_features(cams.azimuth, cams.elevation) if camera else None
    rows = []
    for timestep in args.timesteps:
        t = torch.full((len(x0),), timestep)
        noisy = scheduler.add_noise(x0, noise, t)
        with torch.no_grad():
            outs = [unet(noisy, t, encoder_hidden_states=row.expand(len(x0), -1, -1), class_labels=features).sample
                    for row in tokens]
            if camera:
                turned = camera_features(cams.azimuth + 45.0, cams.elevation)
                outs.append(unet(noisy, t, encoder_hidden_states=tokens[:1].expand(len(x0), -1, -1),
                                 class_labels=turned).sample)
        rows.append([timestep, *(float((out - outs[0]).pow(2).mean().sqrt()) for out in outs[1:])])
    header = [f"'{base}' vs '{other}'" for other in others] + (["camera turned 45 deg"] if camera else [])
    print(table(["t", *header], rows))


# ----------------------------------------------------------------------------------------------- samples
def cmd_samples(args) -> None:
    cfg = toy64_config(tuple(args.override))
    scheme = view_scheme(cfg)
    encoder = build_text_encoder(cfg.text, torch.device("cpu"))
    unet, scheduler = load_prior(cfg.guidance.path)
    cube_mesh = ToyObject(SHAPES[SHAPE_INDEX["cube"]], COLORS[0]).ground_truth_mesh(48)
    barrel = barrel_mesh()
    elevations, distances = (0.0, 15.0, 30.0, 45.0), (2.5, 2.75, 3.0)
    yaws = tuple(7.5 * i for i in range(7))  # 0 (face-on) .. 45 (corner-on); the cube repeats every 90
    grid = [(e, y, d) for e in elevations for y in yaws for d in distances]
    cams = look_at(torch.tensor([g[0] for g in grid]), torch.tensor([g[1] for g in grid]),
                   torch.tensor([g[2] for g in grid]), 42.5)
    cube_refs = silhouette(render_mesh_images(cube_mesh, cams))  # [G, 32, 32]
    barrel_refs = silhouette(render_mesh_images(barrel, cams))
    uncond = encoder.encode([""], allow_empty=True).tokens
    rows = []
    images = []
    for view in scheme.labels[:2]:  # dreamfusion4: front, side; sectors8: front, front-right
        cond = encoder.encode([view_prompt("a red cube", view)]).tokens.expand(args.count, -1, -1)
        # a camera-conditioned prior samples from the camera in the middle of the view (as image_to_mesh does)
        features = (camera_features(*([value] * args.count for value in view_camera(scheme, view)))
                    if camera_feature_dim(unet) else None)
        for scale in (1.1, 3.0):
            samples = sample_prior(unet, scheduler, cond, uncond, guidance_scale=scale, num_inference_steps=50,
                                   eta=0.0, generator=torch.Generator().manual_seed(0), camera_features=features)
            images.append(samples[:8])
            rows.append([f"a red cube, {view} view", scale, *_classify(silhouette(samples), cube_refs, barrel_refs,
                                                                         grid)])
    # The classifier on ground truth: cube renders at random cameras of the prior's distribution.
    truth_cams = sample_cameras(args.count, generator=torch.Generator().manual_seed(2))
    truth = silhouette(render_mesh_images(cube_mesh, truth_cams))
    rows.append(["ground-truth cube renders (random cameras)", "-", *_classify(truth, cube_refs, barrel_refs, grid)])
    print(table(["prompt", "CFG s", "best IoU cube ref", "best IoU barrel ref", "cube beats barrel",
                 "best yaw 0-15", "yaw 15-30", "yaw 30-45"], rows))
    print(f"\n({args.count} DDIM samples, 50 steps, eta 0, seed 0; references: the cube at yaw 0..45 every 7.5 deg and "
          f"the barrel, elevations {elevations}, distances {distances}, fov 42.5)")
    if args.image:
        image_grid(torch.cat(images), len(images)).save(args.image)
        print(f"wrote {args.image} (rows: {scheme.labels[0]} s=1.1, s=3, {scheme.labels[1]} s=1.1, s=3)")


def _classify(masks: torch.Tensor, cube_refs: torch.Tensor, barrel_refs: torch.Tensor, grid: list) -> list[float]:
    """masks [N, H, W] against reference silhouettes [G, H, W]: mean best IoU with a cube and with the barrel,
    share where the cube wins, and shares of the best cube reference's yaw in 0-15, 15-30, 30-45 degrees."""
    best_cube, where = iou(masks[:, None], cube_refs[None]).max(dim=1)
    best_barrel = iou(masks[:, None], barrel_refs[None]).max(dim=1).values
    yaw = torch.tensor([grid[i][1] for i in where.tolist()])
    return [float(best_cube.mean()), float(best_barrel.mean()), float((best_cube > best_barrel).float().mean()),
            float((yaw <= 15).float().mean()), float(((yaw > 15) & (yaw < 30)).float().mean()),
            float((yaw >= 30).float().mean())]


# ----------------------------------------------------------------------------------------------- colors
def foreground_color(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean rgb [B, 3] of ``images`` [B, 3, H, W] in [0, 1] over the foreground ``masks`` [B, H, W]."""
    weight = masks.float().unsqueeze(1)
    return (images * weight).sum(dim=(2, 3)) / weight.sum(dim=(2, 3)).clamp_min(1.0)


def cmd_colors(args) -> None:
    """Does the SDS target keep each color? A true cube of each Toy64 color (or of the ``--albedo`` given),
    shaded as the prior's lambertian renders, against the foreground color of the guided x0 (the SDS target) at
    each t and of the prior's own DDIM samples at the sampling and the SDS guidance scales. Where x0 differs from
    the render, SDS pulls the generator's albedo that way."""
    choices = albedo_choices(args.albedo)
    cfg = toy64_config(tuple(args.override))
    scheme = view_scheme(cfg)
    encoder, guidance = encoder_and_guidance(cfg)
    unet, scheduler = load_prior(cfg.guidance.path)
    uncond = encoder.encode([""], allow_empty=True)
    cube = ToyObject(SHAPES[SHAPE_INDEX["cube"]], COLORS[0]).ground_truth_mesh(48)
    cams = look_at(CAMERA["elevation"], 0.0, CAMERA["distance"], CAMERA["fov"])
    prompt_view = scheme.view_labels(cams.azimuth, cams.elevation)[0]
    rows = []
    for name, albedo in choices:
        prompt = view_prompt(f"a {name} cube", prompt_view)
        cond = encoder.encode([prompt])
        render = render_mesh_images(cube, cams, rgb=albedo)
        mask = silhouette(render)
        row = [name, _rgb(albedo), _rgb(foreground_color(render, mask)[0])]
        for timestep in args.timesteps:
            targets = []
            for seed in range(args.seeds):
                noise = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
                with torch.no_grad():
                    x0 = ((guided_x0(guidance, render, cond, uncond, timestep, noise, cams) + 1) / 2).clamp(0, 1)
                targets.append(foreground_color(x0, mask)[0])
            row.append(_rgb(torch.stack(targets).mean(0)))
        features = guidance.camera_features_for(cams.azimuth.expand(args.seeds), cams.elevation.expand(args.seeds))
        for scale in (1.1, guidance.guidance_scale):
            samples = sample_prior(unet, scheduler, cond.tokens.expand(args.seeds, -1, -1), uncond.tokens,
                                   guidance_scale=scale, num_inference_steps=50, eta=0.0,
                                   generator=torch.Generator().manual_seed(0), camera_features=features)
            row.append(_rgb(foreground_color(samples, silhouette(samples)).mean(0)))
        rows.append(row)
    print(table(["color", "albedo", "render", *(f"x0 t={t}" for t in args.timesteps), "samples s=1.1",
                 f"samples s={guidance.guidance_scale:g}"], rows))
    print(f"\n(mean foreground rgb; the cube face-on at elevation {CAMERA['elevation']}, lambertian, light at the "
          f"camera; x0: mean over {args.seeds} noise seeds inside the render's silhouette, guidance scale "
          f"{guidance.guidance_scale:g}; samples: {args.seeds} DDIM samples, 50 steps, seed 0)")


def albedo_choices(specs: list[str]) -> list[tuple[str, tuple[float, float, float]]]:
    """``--albedo`` entries ``color=r,g,b`` (the prompt's color word, the albedo rendered) -> pairs; none given:
    every Toy64 color with its own albedo."""
    if not specs:
        return [(color.name, color.rgb) for color in COLORS]
    names = [color.name for color in COLORS]
    pairs = []
    for spec in specs:
        name, _, values = spec.partition("=")
        rgb = tuple(float(v) for v in values.split(",")) if values else ()
        if name not in names or len(rgb) != 3 or not all(0.0 <= v <= 1.0 for v in rgb):
            raise SystemExit(f"--albedo takes color=r,g,b with a Toy64 color ({', '.join(names)}) and three "
                             f"values in [0, 1], got {spec!r}")
        pairs.append((name, rgb))
    return pairs


def _rgb(values) -> str:
    return "(" + ", ".join(f"{float(v):.2f}" for v in values) + ")"


# ----------------------------------------------------------------------------------------------- init / capacity
def structure(mesh: Mesh, shape_name: str) -> tuple[float, float, list[float]]:
    """(azimuthal distance, ratio to the truth's, genera of the components)."""
    if mesh.is_empty:
        return float("nan"), float("nan"), []
    truth = ToyObject(SHAPES[SHAPE_INDEX[shape_name]], COLORS[0]).ground_truth_mesh(96)
    azimuthal, _ = azimuthal_distances(mesh)
    return azimuthal, azimuthal / azimuthal_distances(truth)[0], component_genera(mesh)


def fit_sdfs(predict, sdfs: list, params: list, lr: float, steps: int) -> float:
    """Regress ``predict(points [B, M, 3]) -> [B, M]`` onto the analytic ``sdfs`` (one per batch row) by a
    truncated L1 (|sdf| clamped at 0.3) with Adam; returns the last loss."""
    optimizer = torch.optim.Adam(params, lr=lr)
    rng = torch.Generator().manual_seed(0)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        points = torch.rand(len(sdfs), 4096, 3, generator=rng) * 2 - 1
        points[:, 2048:] *= 0.8  # denser near the shapes
        target = torch.stack([sdf(p) for sdf, p in zip(sdfs, points)]).clamp(-0.3, 0.3)
        loss = (predict(points).clamp(-0.3, 0.3) - target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def fit_color(generator, triplane: torch.Tensor, rgb, steps: int) -> None:
    """Regress the color head (only) onto one color over ``[-1, 1]^3`` (MSE, Adam 1e-2)."""
    optimizer = torch.optim.Adam(generator.color_head.parameters(), lr=1e-2)
    rng = torch.Generator().manual_seed(1)
    for _ in range(steps):
        points = torch.rand(1, 4096, 3, generator=rng) * 2 - 1
        loss = ((generator.color(triplane.detach(), points) - torch.tensor(rgb)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def cmd_init(args) -> None:
    cfg = toy64_config()
    encoder = build_text_encoder(cfg.text, torch.device("cpu"))
    prompts = ["a red cube", "a blue torus"]
    text = encoder.encode(prompts)
    grid = tetrahedral_grid(48)
    rows = []
    sphere = ToyObject(SHAPES[0], COLORS[0]).ground_truth_mesh(96)
    rows.append(["ground-truth sphere (noise floor)", "-", azimuthal_distances(sphere)[0], "-", "-"])
    for seed in range(3):
        torch.manual_seed(seed)
        generator = build_model(cfg.model).eval()
        with torch.no_grad():
            meshes = triplanes_to_meshes(generator, generator(text.tokens, text.mask), grid)
        for prompt, mesh in zip(prompts, meshes):
            shape = find_object(prompt).shape.name
            azimuthal, ratio, genera = structure(mesh, shape)
            rows.append([f"initial network, seed {seed}", prompt, azimuthal, ratio, genera])

    # Capacity: fit the whole network (front end + triplane + heads) to the two SDFs by regression.
    torch.manual_seed(0)
    generator = build_model(cfg.model)
    started = time.perf_counter()
    loss = fit_sdfs(lambda points: generator.sdf(generator(text.tokens, text.mask), points),
                    [find_object(p).sdf for p in prompts], list(generator.parameters()), 1e-3, args.fit_steps)
    with torch.no_grad():
        meshes = triplanes_to_meshes(generator, generator(text.tokens, text.mask), grid)
    for prompt, mesh in zip(prompts, meshes):
        azimuthal, ratio, genera = structure(mesh, find_object(prompt).shape.name)
        rows.append([f"network fitted to the SDFs ({args.fit_steps} steps, L1 {loss:.4f})", prompt, azimuthal,
                     ratio, genera])
    print(table(["mesh (grid 48)", "prompt", "azimuthal distance", "ratio to truth", "genus per component"], rows))
    print(f"\n(fit: {time.perf_counter() - started:.0f} s)")


# ----------------------------------------------------------------------------------------------- single prompt
def cmd_single(args) -> None:
    """SDS for one prompt on a free triplane (the initial network's triplane for that prompt, then optimised
    directly) with the toy64 heads, NeuS and DMTet stages, cameras, shading and guidance."""
    overrides = [f"render.views_per_prompt={args.views}", *args.override]
    if args.guidance_scale is not None:
        overrides.append(f"guidance.guidance_scale={args.guidance_scale}")
    cfg = toy64_config(overrides)
    torch.manual_seed(args.seed)
    encoder, guidance = encoder_and_guidance(cfg)
    embeddings = ViewDependentEmbeddings.build(encoder, [args.prompt], scheme=view_scheme(cfg))
    text = encoder.encode([args.prompt])
    generator = build_model(cfg.model)
    with torch.no_grad():
        triplane = torch.nn.Parameter(generator(text.tokens, text.mask).clone())
    obj = find_object(args.prompt)
    if args.true_albedo:  # the prompt's own color everywhere: the color head cannot paint the background in
        generator.color = lambda triplanes, points: torch.tensor(obj.color.rgb).expand(*points.shape[:-1], 3)
    if args.start_from_truth:  # the triplane and SDF head first regressed onto the true shape, color kept
        def truth(points: torch.Tensor) -> torch.Tensor:  # the true shape turned by truth_yaw about +Z
            return obj.sdf(rotate_about_z(points.reshape(-1, 3), -args.truth_yaw).reshape(points.shape))

        fit_sdfs(lambda points: generator.sdf(triplane, points), [truth],
                 [triplane, *generator.sdf_head.parameters()], 1e-2, args.start_from_truth)
        fit_color(generator, triplane, obj.color.rgb, args.start_from_truth)
    neus = NeuSRenderer(num_samples=cfg.stage1.num_samples, num_importance=cfg.stage1.num_importance,
                        bound=cfg.model.bound, init_inv_std=cfg.stage1.init_inv_std)
    groups = [
        {"params": [triplane], "lr": args.triplane_lr},
        {"params": list(generator.sdf_head.parameters()) + list(generator.color_head.parameters()), "lr": 1e-3},
        {"params": list(generator.deformation_head.parameters()), "lr": 1e-4},
        {"params": list(neus.parameters()), "lr": 1e-3},
    ]
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.99))
    rng = torch.Generator().manual_seed(args.seed)
    grid32 = tetrahedral_grid(cfg.stage2.grid_resolution)
    rasterizer = make_rasterizer("torch")
    total = args.stage1_steps + args.stage2_steps
    checkpoints = {args.stage1_steps, total}
    rows = []
    started = time.perf_counter()

    def report(step: int) -> None:
        with torch.no_grad():
            mesh = triplanes_to_meshes(generator, triplane.detach(), tetrahedral_grid(48))[0]
        row = evaluate_meshes([args.prompt], [mesh], unseen=set(), n_points=4000, rank_points=1024)["per_prompt"][0]
        azimuthal, ratio, genera = structure(mesh, obj.shape.name)
        start = f"truth turned {args.truth_yaw:g} deg" if args.start_from_truth else "sphere"
        turned_back = Mesh(rotate_about_z(mesh.vertices, -args.truth_yaw), mesh.faces, mesh.vertex_colors)
        f_turned = evaluate_meshes([args.prompt], [turned_back], unseen=set(), n_points=4000,
                                   rank_points=256)["per_prompt"][0]["f_score"]
        rows.append([args.prompt, start, cfg.guidance.guidance_scale, args.views, step, row["f_score"], f_turned,
                     row["chamfer_l1"], azimuthal, ratio, genera, row["r1_shape"],
                     f"{time.perf_counter() - started:.0f}"])
        if args.image:
            cams = turntable(8, elevation=15.0, distance=2.75, fov=42.5)
            preview = render_stage2(generator, triplane.detach(), tetrahedral_grid(48), rasterizer,
                                    fixed_views(cams), 64).images
            path = Path(args.image).with_suffix(f".step{step}.png")
            image_grid(preview.detach(), 1).save(path)
            print(f"wrote {path}", flush=True)

    if args.start_from_truth:
        report(0)
    for step in range(total):
        views = sample_views(cfg, args.views, rng)
        phase = 1 if step < args.stage1_steps else 2
        if phase == 1:
            out = render_stage1(generator, triplane, neus, views, cfg.stage1.resolution)
        else:
            out = render_stage2(generator, triplane, grid32, rasterizer, views, cfg.stage2.resolution)
        regular = sum(w * out.losses[k] for k, w in regularizer_weights(cfg, phase, "dmtet").items())
        labels = embeddings.scheme.view_labels(views.cameras.azimuth, views.cameras.elevation)
        cond, uncond = embeddings.lookup(torch.zeros(len(views.cameras), dtype=torch.long), labels)
        sds = guidance(out.images, cond, uncond, progress=step / total,
                       camera_features=guidance.camera_features_for(views.cameras.azimuth, views.cameras.elevation))
        loss = sds.loss + regular
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
        optimizer.step()
        if step + 1 in checkpoints:
            report(step + 1)
    print(table(["prompt", "start", "CFG s", "views/step", "steps", "F@0.05", "F@0.05 turned back", "Chamfer-L1",
                 "azimuthal distance", "ratio",
                 "genus per component", "R@1 shape", "s"], rows))


# ----------------------------------------------------------------------------------------------------- hole
def surface_along(sdf: torch.Tensor, distances: torch.Tensor) -> float:
    """The first of ``distances`` (ascending) where ``sdf`` (same length) is outside (> 0); nan if none."""
    outside = (sdf > 0).nonzero()
    return float(distances[outside[0, 0]]) if len(outside) else float("nan")


def cmd_hole(args) -> None:
    """A trained run's tori: is the hole open, and if not, what covers it? Per torus prompt: genus; the faces
    closer to the torus's axis than the ring minus the tube radius (the true torus has none), with their share of
    the surface and their color against the rest of the mesh and the white background (RGB distance, max
    sqrt(3)); how far along the axis, from the centre, the field turns outside (mean of both directions; the
    truth: 0, the centre is outside); and the SDF at the centre and at the tube's core (mean over 16 directions
    in the ring's plane; the truth's: +0.25 and -0.15)."""
    torus_sdf_args = SHAPES[SHAPE_INDEX["torus"]].sdf.keywords
    axis = torch.tensor(torus_sdf_args["axis"]) / torch.tensor(torus_sdf_args["axis"]).norm()
    hole_radius = torus_sdf_args["ring_radius"] - torus_sdf_args["tube_radius"]
    background = torch.tensor(RenderConfig().background)  # the renders' background, as SDS saw it
    in_plane = torch.linalg.svd(axis[None])[2][1:]  # [2, 3]: an orthonormal basis of the ring's plane
    angles = torch.arange(16) * (2 * math.pi / 16)
    ring_probes = torus_sdf_args["ring_radius"] * (angles.cos()[:, None] * in_plane[0]
                                                   + angles.sin()[:, None] * in_plane[1])  # [16, 3]
    distances = torch.linspace(0.0, 0.6, 61)
    axis_probes = torch.cat([distances[:, None] * axis, -distances[:, None] * axis])  # [122, 3]
    pipeline = TextToMeshPipeline.from_pretrained(args.run)
    objects = [ToyObject(SHAPES[SHAPE_INDEX["torus"]], color) for color in COLORS]
    probes = torch.cat([ring_probes, axis_probes])[None].expand(len(objects), -1, -1)
    with torch.no_grad():
        triplanes = pipeline.triplanes(pipeline.encode([obj.prompt for obj in objects]))
        meshes = pipeline.meshes(triplanes, args.grid)
        fields = pipeline.model.sdf(triplanes, probes)
    rows = []
    for obj, mesh, field in zip(objects, meshes, fields):
        ring_sdf, along_plus, along_minus = field.split([len(ring_probes), len(distances), len(distances)])
        centres, areas = mesh.vertices[mesh.faces].mean(1), mesh.face_areas()
        along = centres @ axis
        covers = (centres - along[:, None] * axis).norm(dim=-1) < hole_radius
        face_colors = mesh.vertex_colors[mesh.faces].mean(1)
        cover = (face_colors[covers] * areas[covers, None]).sum(0) / areas[covers].sum().clamp_min(1e-12)
        rest = (face_colors[~covers] * areas[~covers, None]).sum(0) / areas[~covers].sum()
        rows.append([obj.prompt, largest_component_genus(mesh), float(areas[covers].sum() / areas.sum()),
                     _rgb(obj.color.rgb), _rgb(rest), _rgb(cover) if covers.any() else "-",
                     float((rest - background).norm()),
                     float((cover - background).norm()) if covers.any() else float("nan"),
                     (surface_along(along_plus, distances) + surface_along(along_minus, distances)) / 2,
                     float(along_plus[0]), float(ring_sdf.mean())])
    print(f"run {args.run}, grid {args.grid}; the hole: within {hole_radius:.2f} of the axis {_rgb(axis)}\n")
    print(table(["prompt", "genus", "hole faces' share of the area", "true color", "ring color", "hole faces' color",
                 "ring to background", "hole faces to background", "outside along the axis from",
                 "SDF at the centre", "SDF at the tube's core"], rows))


# ------------------------------------------------------------------------------------------------ wordings
def pooled_embeddings(encoder, texts: list[str], batch: int = 256) -> torch.Tensor:
    """The encoder's pooled sentence vectors of ``texts``, [N, D], normalised to unit length."""
    with torch.no_grad():
        chunks = [encoder.encode(texts[start:start + batch]).pooled for start in range(0, len(texts), batch)]
    return torch.nn.functional.normalize(torch.cat(chunks).float(), dim=-1)


def nearest_labels(queries: torch.Tensor, keys: torch.Tensor, key_labels: torch.Tensor) -> torch.Tensor:
    """The label of each query's nearest key by cosine: queries [Q, D], keys [K, D], key_labels [K] -> [Q]."""
    return key_labels[(queries @ keys.T).argmax(dim=1)]


def probe_labels(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, classes: int,
                 steps: int = 500, weight_decay: float = 1e-3, seed: int = 0) -> torch.Tensor:
    """A linear classifier (softmax regression, full-batch Adam) fitted on ``train`` [N, D] -> ``train_labels``
    [N], applied to ``test`` [Q, D], both standardised by the training vectors' mean and spread: what a layer
    reading only these vectors can learn from the training wordings about unseen ones."""
    mean, spread = train.mean(dim=0), train.std(dim=0).clamp_min(1e-6)
    train, test = (train - mean) / spread, (test - mean) / spread
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(train.shape[1], classes, generator=generator) * 0.01).requires_grad_()
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=1e-2, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(train @ weight + bias, train_labels).backward()
        optimizer.step()
    with torch.no_grad():
        return (test @ weight + bias).argmax(dim=1)


def wording_report(encoder) -> str:
    """How well the frozen encoder's pooled vectors alone tell the held-out paraphrases' objects apart.

    Three readings, each an upper reference for a generator that reads this encoder: (1) every held-out synonym
    on its own, against the eight Toy64 words of its kind; (2) every paraphrase's nearest Toy64 prompt, and
    nearest training text (prompts and their training wordings); (3) a linear probe for shape and for color,
    fitted on the training texts and applied to the paraphrases. Returns Markdown tables."""
    color_names, shape_names = [c.name for c in COLORS], [s.name for s in SHAPES]
    rows = []
    for kind, names, synonyms in (("color", color_names, COLOR_SYNONYMS), ("shape", shape_names, SHAPE_SYNONYMS)):
        words = [word for name in names for word in synonyms[name]]
        truth = torch.tensor([index for index in range(len(names)) for _ in synonyms[names[index]]])
        found = nearest_labels(pooled_embeddings(encoder, words), pooled_embeddings(encoder, names),
                               torch.arange(len(names)))
        misses = [f"{word} -> {names[label]}" for word, label, right in zip(words, found, found == truth) if not right]
        rows.append([f"held-out {kind} synonym alone -> nearest {kind} word", float((found == truth).float().mean()),
                     ", ".join(misses) or "-"])
    objects = toy64()
    index_of = {obj.prompt: index for index, obj in enumerate(objects)}
    training = [(text, index_of[prompt]) for prompt, texts in toy64_training_wordings().items()
                for text in (prompt, *texts)]
    train_x = pooled_embeddings(encoder, [text for text, _ in training])
    train_object = torch.tensor([index for _, index in training])
    paraphrases = toy64_paraphrases()
    test_x = pooled_embeddings(encoder, list(paraphrases))
    shape_of = torch.tensor([SHAPE_INDEX[obj.shape.name] for obj in objects])
    color_of = torch.tensor([color_names.index(obj.color.name) for obj in objects])
    truth = torch.tensor([index_of[obj.prompt] for obj in paraphrases.values()])

    def scores(shape: torch.Tensor, color: torch.Tensor) -> list[float]:
        shape_hit, color_hit = shape == shape_of[truth], color == color_of[truth]
        return [float(shape_hit.float().mean()), float(color_hit.float().mean()),
                float((shape_hit & color_hit).float().mean())]

    prompt_x = pooled_embeddings(encoder, [obj.prompt for obj in objects])
    nearest_prompt = nearest_labels(test_x, prompt_x, torch.arange(len(objects)))
    nearest_text = nearest_labels(test_x, train_x, train_object)
    probes = [probe_labels(train_x, labels_of[train_object], test_x, len(names))
              for labels_of, names in ((shape_of, shape_names), (color_of, color_names))]
    paraphrase_rows = [
        ["nearest of the 64 Toy64 prompts", *scores(shape_of[nearest_prompt], color_of[nearest_prompt])],
        [f"nearest of the {len(training)} training texts (they name none of the 8 unseen objects)",
         *scores(shape_of[nearest_text], color_of[nearest_text])],
        [f"linear probe fitted on the {len(training)} training texts", *scores(*probes)],
    ]
    return "\n\n".join([
        table(["reading", "accuracy", "misses"], rows),
        table([f"the {len(paraphrases)} held-out paraphrases, read by", "R@1 shape", "R@1 color", "R@1 both"],
              paraphrase_rows),
    ])


def cmd_wordings(args) -> None:
    cfg = toy64_config(tuple(args.override))
    encoder = build_text_encoder(cfg.text, torch.device("cpu"))
    print(f"encoder {encoder.identity}\n")
    print(wording_report(encoder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cameras = sub.add_parser("cameras")
    x0 = sub.add_parser("x0")
    captions = sub.add_parser("captions")
    captions.add_argument("--timesteps", type=int, nargs="+", default=[200, 500, 800])
    x0.add_argument("--seeds", type=int, default=8)
    x0.add_argument("--timesteps", type=int, nargs="+", default=[200, 400, 600, 800, 950])
    colors = sub.add_parser("colors")
    colors.add_argument("--seeds", type=int, default=4)
    colors.add_argument("--timesteps", type=int, nargs="+", default=[200, 500, 800])
    colors.add_argument("--albedo", nargs="*", default=[],
                        help="color=r,g,b: render the cube of that prompt color with this albedo instead "
                             "(e.g. yellow=0.5,0.45,0.05, too dark)")
    samples = sub.add_parser("samples")
    samples.add_argument("--count", type=int, default=32)
    samples.add_argument("--image", default=None)
    init = sub.add_parser("init")
    init.add_argument("--fit-steps", type=int, default=300)
    single = sub.add_parser("single")
    single.add_argument("--prompt", default="a red cube")
    single.add_argument("--views", type=int, default=4)
    single.add_argument("--stage1-steps", type=int, default=200)
    single.add_argument("--stage2-steps", type=int, default=150)
    single.add_argument("--triplane-lr", type=float, default=1e-2)
    single.add_argument("--seed", type=int, default=0)
    single.add_argument("--guidance-scale", type=float, default=None, help="default: toy64's (3)")
    single.add_argument("--image", default=None)
    single.add_argument("--start-from-truth", type=int, default=0,
                        help="first regress the triplane and SDF head onto the true SDF for this many steps")
    single.add_argument("--true-albedo", action="store_true",
                        help="render the prompt's true color everywhere instead of the color head's")
    single.add_argument("--truth-yaw", type=float, default=0.0,
                        help="with --start-from-truth: the true shape turned by this many degrees about +Z")
    hole = sub.add_parser("hole")
    hole.add_argument("--run", required=True, help="a run or checkpoint directory of a toy64 training")
    hole.add_argument("--grid", type=int, default=48, help="extraction grid (the run's export used 48)")
    wordings = sub.add_parser("wordings")
    for command in (cameras, x0, captions, colors, samples, single, wordings):
        command.add_argument("--override", nargs="*", default=[],
                             help="Hydra overrides of the toy64 config, e.g. guidance.path=DIR "
                                  "guidance.view_scheme=sectors8")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"cameras": cmd_cameras, "x0": cmd_x0, "captions": cmd_captions, "colors": cmd_colors, "samples": cmd_samples,
     "init": cmd_init, "single": cmd_single, "hole": cmd_hole,
     "wordings": cmd_wordings}[args.command](args)


if __name__ == "__main__":
    main()
