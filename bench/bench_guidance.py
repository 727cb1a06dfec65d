"""Score-distillation timings: one SDS step (forward + backward into the renders).

Run ``python bench/bench_guidance.py [--batch 8] [--repeats 7]``. Two sections, each a Markdown table:

1. the tiny IF-style pipeline (``build_tiny_if``) through ``PixelSDS`` on the CPU, [B, 3, 64, 64] renders;
2. a UNet with DeepFloyd IF-I-XL's configuration (random weights, ~4.3B parameters) on CUDA in float16,
   with 77 T5-XXL-width (4096) tokens per prompt. Without a GPU it prints "skipped: no GPU" after
   checking the configuration's parameter count on the meta device (no memory used).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable

import diffusers
import torch
from diffusers import UNet2DConditionModel
from timing import machine_header, median_times

from atom.guidance import PixelSDS
from atom.testing.tiny_diffusion import build_tiny_if
from atom.text.encoder import TextEmbeddings

# DeepFloyd/IF-I-XL-v1.0 unet/config.json (diffusers layout), minus bookkeeping keys.
IF_I_XL_UNET = {
    "sample_size": 64,
    "in_channels": 3,
    "out_channels": 6,
    "block_out_channels": (704, 1408, 2112, 2816),
    "layers_per_block": 3,
    "down_block_types": (
        "ResnetDownsampleBlock2D",
        "SimpleCrossAttnDownBlock2D",
        "SimpleCrossAttnDownBlock2D",
        "SimpleCrossAttnDownBlock2D",
    ),
    "up_block_types": (
        "SimpleCrossAttnUpBlock2D",
        "SimpleCrossAttnUpBlock2D",
        "SimpleCrossAttnUpBlock2D",
        "ResnetUpsampleBlock2D",
    ),
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "cross_attention_dim": 2816,
    "encoder_hid_dim": 4096,
    "encoder_hid_dim_type": "text_proj",
    "attention_head_dim": 64,
    "addition_embed_type": "text",
    "addition_embed_type_num_heads": 64,
    "cross_attention_norm": "group_norm",
    "resnet_time_scale_shift": "scale_shift",
    "act_fn": "gelu",
    "norm_num_groups": 32,
}
T5_XXL_WIDTH = 4096
TOKENS = 77


def random_embeddings(batch: int, width: int, device: torch.device) -> TextEmbeddings:
    return TextEmbeddings(
        tokens=torch.randn(batch, TOKENS, width, device=device),
        mask=torch.ones(batch, TOKENS, dtype=torch.bool, device=device),
    )


def sds_step(sds: PixelSDS, batch: int, width: int, device: torch.device) -> Callable[[], None]:
    """One SDS step on fresh renders [B, 3, 64, 64]: forward (one batched CFG UNet call) + backward."""
    cond = random_embeddings(batch, width, device)
    uncond = random_embeddings(1, width, device)

    def step() -> None:
        images = torch.rand(batch, 3, 64, 64, device=device, requires_grad=True)
        sds(images, cond, uncond, progress=0.5).loss.backward()

    return step


def bench_tiny_cpu(batch: int, repeats: int) -> None:
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as directory:
        path = build_tiny_if(directory)
        sds = PixelSDS(path=str(path), resolution=64)
    params = sum(p.numel() for p in sds.unet.parameters())
    wall, cpu = median_times(sds_step(sds, batch, sds.embedding_dim, device), repeats, device, warmup=2)
    print(f"## Tiny IF-style PixelSDS, CPU ({params / 1e6:.2f}M UNet params)")
    print()
    print("| renders | UNet batch (CFG) | median ms | CPU ms (all threads) |")
    print("|---|---|---|---|")
    print(f"| [{batch}, 3, 64, 64] | {2 * batch} | {wall * 1e3:.0f} | {cpu * 1e3:.0f} |")
    print()


def bench_if_xl_gpu(batch: int, repeats: int) -> None:
    print("## IF-I-XL-shaped UNet (random weights), CUDA")
    print()
    with torch.device("meta"):
        params = sum(p.numel() for p in UNet2DConditionModel(**IF_I_XL_UNET).parameters())
    print(f"UNet parameters: {params / 1e9:.2f}B")
    print()
    if not torch.cuda.is_available():
        print("skipped: no GPU")
        print()
        return
    device = torch.device("cuda")
    with tempfile.TemporaryDirectory() as directory:
        # The tiny pipeline brings IF's scheduler; its UNet is swapped for the full-size one.
        path = build_tiny_if(directory)
        rows = []
        for label, options in (
            ("float16, SDPA", {"dtype": "float16"}),
            ("float16, SDPA, channels_last", {"dtype": "float16", "channels_last": True}),
        ):
            sds = PixelSDS(path=str(path), resolution=64, **options)
            with torch.device(device):
                unet = UNet2DConditionModel(**IF_I_XL_UNET).to(torch.float16)
            sds.unet = unet.requires_grad_(False).eval()
            sds.embedding_dim = T5_XXL_WIDTH
            sds.to(device)
            torch.cuda.reset_peak_memory_stats(device)
            wall, _ = median_times(sds_step(sds, batch, T5_XXL_WIDTH, device), repeats, device, warmup=2)
            peak = torch.cuda.max_memory_allocated(device) / 2**30
            rows.append(f"| {label} | [{batch}, 3, 64, 64] | {wall * 1e3:.1f} | {peak:.1f} |")
            del sds
            torch.cuda.empty_cache()
    print("| precision, attention | renders | median ms | peak GiB |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(machine_header(f"bench_guidance: one SDS step, batch {args.batch}, median of {args.repeats}"))
    print(f"diffusers {diffusers.__version__}; two warm-up steps before the timed ones")
    print()
    bench_tiny_cpu(args.batch, args.repeats)
    bench_if_xl_gpu(args.batch, args.repeats)


if __name__ == "__main__":
    main()
