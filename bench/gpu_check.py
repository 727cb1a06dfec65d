"""GPU check for a lent machine: the full-size DF415 configuration, random weights, timed on one CUDA GPU.

    bench/gpu_check.sh [--output gpu_check.md] [--steps 3]    # one CUDA GPU, < 8 minutes; never run by CI
    python bench/gpu_check.py --smoke [--output smoke.md]      # CPU, tiny sizes: every code path in seconds

What is built (no weights are downloaded: everything is randomly initialised):

- the run configuration of ``experiment=df415`` (generator ``conf/model/atom.yaml``; 8 prompts x 4 views per
  step; stage 1 NeuS at 64 px, stage 2 DMTet on the grid-128 tets rasterized at 256 px; bf16 autocast), with
  20 prompts given as a list instead of the DF415 file;
- guidance: a UNet with DeepFloyd IF-I-XL's published configuration (``bench_guidance.IF_I_XL_UNET``, ~4.3B
  parameters) built directly on the GPU in float16, and IF's DDPM scheduler (from the tiny IF pipeline folder,
  whose small UNet it replaces);
- text: the T5-XXL encoder is skipped. Random embeddings of its shape (77 tokens x 4096) stand in for the
  encoded prompts. Training encodes every prompt once before the loop and inference reads the embedding cache,
  so the encoder never runs inside what is timed here.

What is measured: median seconds per training step of each stage (``Trainer.train_step`` of the generic
trainer running ``AToMSystem``, as ``atom.training.build.build_trainer`` builds it: generator, render,
SDS, backward, optimizer; one warm-up step first), peak GPU memory per stage (``max_memory_allocated``,
reset before each stage), inference latency per prompt at grid 128 with cached text over 20 prompts (text
embeddings already on the GPU -> triplane -> DMTet mesh with vertex colors, batch 1, synchronised), and
which optional accelerators import (tinycudann, kaolin, nvdiffrast, xformers). Prints the tables and writes
them as Markdown for ``bench/RESULTS.md``. Without a CUDA device it stops at once (status 2) and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from unittest import mock

import torch

ACCELERATORS = {"tinycudann": "tinycudann", "kaolin": "kaolin", "nvdiffrast": "nvdiffrast.torch",
                "xformers": "xformers"}
PROMPTS = [f"a detailed photo of object number {i}" for i in range(20)]
T5_XXL_TOKENS, T5_XXL_WIDTH = 77, 4096
SMOKE_WIDTH = 32
# Smoke sizes: the same code paths at toy scale (CPU, float32).
SMOKE_OVERRIDES = [
    "trainer.device=cpu", "trainer.precision=fp32", "trainer.prompts_per_step=2", "render.views_per_prompt=1",
    "guidance.dtype=float32", "guidance.resolution=32", "text.dtype=float32", f"text.max_length={T5_XXL_TOKENS}",
    f"model.text_dim={SMOKE_WIDTH}", "model.query_resolution=4", "model.hidden_dim=16", "model.num_blocks=1",
    "model.num_heads=2", "model.triplane_resolution=8", "model.triplane_channels=4", "model.head_hidden=16",
    "model.head_layers=1", "stage1.resolution=12", "stage1.num_samples=8", "stage1.num_importance=4",
    "stage2.resolution=24", "stage2.grid_resolution=8", "trainer.export_grid_resolution=8",
]


def fail_without_cuda() -> None:
    """Exit with status 2 and the reason when no CUDA device can be used."""
    if torch.cuda.is_available():
        return
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU-only build)"
    print(f"gpu_check: error: no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}, built "
          f"with {build}). Run it on a machine with an NVIDIA GPU and a CUDA build of torch, or pass --smoke for "
          "the CPU check of the code paths.", file=sys.stderr, flush=True)
    sys.exit(2)


def accelerators() -> dict[str, str]:
    """Whether each optional accelerator imports here: 'yes (version)' or 'no (the error)'."""
    found = {}
    for name, module in ACCELERATORS.items():
        try:
            importlib.import_module(module)
        except Exception as err:  # a missing package, or a build that fails to load its CUDA extension
            found[name] = f"no ({type(err).__name__}: {str(err).splitlines()[0][:80] if str(err) else ''})"
            continue
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "version unknown"
        found[name] = f"yes ({version})"
    return found


def unet_config(smoke: bool) -> dict:
    """IF-I-XL's UNet configuration, or a small one with the same block types and conditioning for --smoke."""
    from bench_guidance import IF_I_XL_UNET

    if not smoke:
        return dict(IF_I_XL_UNET)
    return dict(IF_I_XL_UNET, block_out_channels=(32, 64), layers_per_block=1,
                down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
                up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"), cross_attention_dim=64,
                encoder_hid_dim=SMOKE_WIDTH, attention_head_dim=8, addition_embed_type_num_heads=2,
                norm_num_groups=8)


def random_text_encoder(width: int):
    """A stand-in for T5-XXL: deterministic random token embeddings ``[B, 77, width]`` per prompt."""
    from atom.text import TextEmbeddings, TextEncoder

    class RandomTextEncoder(TextEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.freeze()

        @property
        def dim(self) -> int:
            return width

        @property
        def max_length(self) -> int:
            return T5_XXL_TOKENS

        @property
        def identity(self) -> str:
            return f"RandomTextEncoder(width={width}, length={T5_XXL_TOKENS})"

        @property
        def device(self) -> torch.device:
            return torch.device("cpu")

        def count_tokens(self, prompt: str) -> int:
            return len(prompt.split()) + 1

        def _encode(self, prompts: list[str]) -> TextEmbeddings:
            tokens = torch.stack([
                torch.randn(T5_XXL_TOKENS, width, generator=torch.Generator().manual_seed(zlib.crc32(p.encode())))
                for p in prompts])
            return TextEmbeddings(tokens=tokens, mask=torch.ones(tokens.shape[:2], dtype=torch.bool))

    return RandomTextEncoder()


def compose_config(run_dir: Path, tiny_if: Path, smoke: bool, extra: list[str]):
    """``experiment=df415`` with the 20 prompts as a list and no embedding cache (+ the smoke sizes, + ``extra``)."""
    from hydra import compose, initialize_config_dir

    from atom.config import CONF_DIR, register_configs

    register_configs()
    prompt_list = "[" + ",".join(PROMPTS) + "]"
    overrides = ["experiment=df415", "logger=none", "trainer.progress=false", "trainer.resume=none",
                 f"trainer.device={'cpu' if smoke else 'cuda'}", f"run_dir={run_dir}", "embedding_cache=null",
                 "prompts.source=list", f"prompts.prompts={prompt_list}", f"guidance.path={tiny_if}",
                 f"text.path={tiny_if}", *(SMOKE_OVERRIDES if smoke else []), *extra]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


def build_trainer(run_dir: Path, tiny_if: Path, smoke: bool, extra: list[str]):
    """The generic ``Trainer`` running an ``AToMSystem`` for DF415 (or the smoke sizes), built by
    ``atom.training.build.build_trainer``, whose text encoder and guidance UNet are the stand-ins.

    The two builders the system calls are replaced while it is constructed: text -> ``random_text_encoder``,
    guidance -> the real builder on the tiny IF folder, then its UNet swapped for the configured full-size one.
    """
    from diffusers import UNet2DConditionModel
    from omegaconf import OmegaConf

    from atom.build import build_guidance
    from atom.training import atom_system
    from atom.training.build import build_trainer

    width = SMOKE_WIDTH if smoke else T5_XXL_WIDTH

    def guidance(cfg, device):
        sds = build_guidance(cfg, device)
        with torch.device(device):
            unet = UNet2DConditionModel(**unet_config(smoke))
        sds.unet = unet.to(torch.float32 if smoke else torch.float16).requires_grad_(False).eval()
        sds.embedding_dim = width
        return sds

    cfg = OmegaConf.to_object(compose_config(run_dir, tiny_if, smoke, extra))
    with mock.patch.object(atom_system, "build_text_encoder", lambda *_: random_text_encoder(width)), \
            mock.patch.object(atom_system, "build_guidance", guidance):
        return build_trainer(cfg, run_dir)


def peak_memory(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def time_stage(trainer, stage: int, steps: int) -> dict:
    """Median s/step and peak memory of one stage (stage 2 by starting the step counter at its first step)."""
    from timing import median_times

    if trainer.device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(trainer.device)
    cfg = trainer.system.config
    trainer.step = 0 if stage == 1 else cfg.stage1.steps
    median, _ = median_times(trainer.train_step, steps, trainer.device, warmup=1)
    resolution = cfg.stage1.resolution if stage == 1 else cfg.stage2.resolution
    return {"stage": stage, "resolution": resolution, "median_s": median, "peak_gib": peak_memory(trainer.device)}


def time_inference(trainer, grid_resolution: int) -> dict:
    """Latency per prompt (batch 1) from cached embeddings on the device to a colored mesh, over all prompts."""
    from atom.pipelines import TextToMeshPipeline

    pipeline = TextToMeshPipeline(trainer.system.model, text_encoder=None, device=trainer.device)
    cached = trainer.system.text  # every prompt's embeddings, already on the device
    cuda = trainer.device.type == "cuda"

    def one(index: int):
        return pipeline.meshes(pipeline.triplanes(cached[index]), grid_resolution=grid_resolution)[0]

    one(0)  # warm-up: kernels, the tet grid of this resolution
    times, faces = [], []
    for index in range(len(cached)):
        if cuda:
            torch.cuda.synchronize(trainer.device)
        start = time.perf_counter()
        mesh = one(index)
        if cuda:
            torch.cuda.synchronize(trainer.device)
        times.append(time.perf_counter() - start)
        faces.append(mesh.num_faces)
    return {"prompts": len(times), "grid": grid_resolution, "median_ms": 1e3 * statistics.median(times),
            "mean_ms": 1e3 * statistics.fmean(times), "max_ms": 1e3 * max(times), "faces": statistics.fmean(faces)}


def describe(trainer, smoke: bool, unet_params: int, steps: int) -> list[str]:
    """The paragraph saying what was built and how it is timed."""
    system = trainer.system
    cfg = system.config
    views = cfg.trainer.prompts_per_step * cfg.render.views_per_prompt
    what = "SMOKE (CPU, tiny sizes: code paths only, not figures)" if smoke else "full-size DF415, random weights"
    generator_params = sum(p.numel() for p in system.model.parameters())
    return [f"gpu_check: {what}. Generator {generator_params / 1e6:.3g}M parameters (triplane "
            f"R={cfg.model.triplane_resolution} C={cfg.model.triplane_channels}); guidance UNet "
            f"{unet_params / 1e6:.4g}M parameters ({cfg.guidance.dtype.name}, {cfg.guidance.resolution} px); "
            f"text: random embeddings [{T5_XXL_TOKENS}, {system.text.dim}] in place of T5-XXL (cached, not "
            f"encoded); {cfg.trainer.prompts_per_step} prompts x {cfg.render.views_per_prompt} views = {views} "
            f"renders/step, precision {cfg.trainer.precision.name}, rasterizer {type(system.rasterizer).__name__}; "
            f"median of {steps} steps after one warm-up.", ""]


def stage_table(rows: list[dict]) -> list[str]:
    lines = ["| stage | render px | median s/step | steps/s | peak GPU memory GiB |", "|---|---|---|---|---|"]
    for row in rows:
        peak = "-" if row["peak_gib"] is None else f"{row['peak_gib']:.1f}"
        lines.append(f"| {row['stage']} | {row['resolution']} | {row['median_s']:.3f} | {1 / row['median_s']:.2f} | "
                     f"{peak} |")
    return [*lines, ""]


def inference_table(inference: dict) -> list[str]:
    return [f"Inference, cached text -> colored DMTet mesh, batch 1, over {inference['prompts']} prompts (random "
            f"weights a few steps in, near the initial sphere: {inference['faces']:.0f} faces):", "",
            "| grid | median ms/prompt | mean ms | max ms |", "|---|---|---|---|",
            f"| {inference['grid']} | {inference['median_ms']:.1f} | {inference['mean_ms']:.1f} | "
            f"{inference['max_ms']:.1f} |", ""]


def accelerator_table(found: dict[str, str]) -> list[str]:
    return ["| optional accelerator | importable |", "|---|---|", *(f"| {n} | {s} |" for n, s in found.items()), ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: check every code path in seconds")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per stage")
    parser.add_argument("--output", type=Path, default=Path("gpu_check.md"), help="Markdown file to write")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. render.rasterizer=nvdiffrast")
    args = parser.parse_args()
    if not args.smoke:
        fail_without_cuda()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_guidance, timing
    from diffusers import UNet2DConditionModel
    from timing import machine_header

    from atom.testing.tiny_diffusion import build_tiny_if

    started = time.perf_counter()
    found = accelerators()
    with torch.device("meta"):
        unet_params = sum(p.numel() for p in UNet2DConditionModel(**unet_config(args.smoke)).parameters())
    lines: list[str] = []

    def report(*parts: list[str]) -> None:
        """Add to the report and rewrite the file: a check cut short by a timeout keeps what it measured."""
        for part in parts:
            lines.extend(part)
        args.output.write_text("\n".join(lines) + "\n")

    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(sys.stderr):
        tiny_if = build_tiny_if(Path(scratch) / "tiny_if")
        trainer = build_trainer(Path(scratch) / "run", tiny_if, args.smoke, args.overrides)
        report([machine_header("gpu_check", trainer.device), ""],
               describe(trainer, args.smoke, unet_params, args.steps), accelerator_table(found))
        stages = []
        for stage in (1, 2):
            stages.append(time_stage(trainer, stage, args.steps))
            print(f"stage {stage}: {stages[-1]}", flush=True)
        report(stage_table(stages))
        with torch.no_grad():
            report(inference_table(time_inference(trainer, trainer.system.config.trainer.export_grid_resolution)))
    report([f"Total wall time of the check: {time.perf_counter() - started:.0f} s."])
    print("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
