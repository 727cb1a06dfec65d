"""Score the bundled multi-view diffusion stages on the held-out toy objects: PSNR / SSIM against the truth.

The 24 held-out objects of ``atom.toyworld.crm_data.held_out_objects`` (diagonal Toy64 pairs, unseen colors,
unseen yaws), one picture each (``atom.toyworld.multiview_data.held_out_examples``). Stage 1 turns the
pictures into six views; stage 2 turns the GENERATED views into CCMs, and, for comparison, the TRUE views.
Scores per object over its six images side by side (``atom.toyworld.multiview_check``); the table prints
medians (and minima) over the objects, plus the median PSNR per held-out category, and the median seconds
per object of each stage (batches of 8, each timed once).

With ``--sweep S1 S2 ...`` a second table scores stage 1 alone at each guidance scale.

    python bench/bench_multiview.py [--views atom/weights/toy_mv_views] [--ccms atom/weights/toy_mv_ccms]
        [--steps N] [--guidance S] [--sweep S1 S2 ...] [--seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from timing import machine_header

from atom.config import asset_path
from atom.model.multiview_diffusion import MultiViewDiffusionModel
from atom.render import make_rasterizer
from atom.toyworld.multiview_check import generate, score_images
from atom.toyworld.multiview_data import held_out_examples

MESH_RESOLUTION = 32  # as the training pool (atom/conf/multiview/train_multiview.yaml)


def timed_generate(model, condition, seed, steps, guidance) -> tuple[torch.Tensor, float]:
    """``generate`` and the wall seconds per object."""
    start = time.perf_counter()
    out = generate(model, condition, seed, num_inference_steps=steps, guidance_scale=guidance)
    return out, (time.perf_counter() - start) / condition.shape[0]


def print_row(name: str, scores, seconds: float) -> None:
    s = scores.summary()
    print(f"| {name} | {s['median_psnr']:.2f} | {s['min_psnr']:.2f} | {s['median_ssim']:.3f} | "
          f"{s['min_ssim']:.3f} | {seconds:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", default=asset_path("toy_mv_views"))
    parser.add_argument("--ccms", default=asset_path("toy_mv_ccms"))
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default: each model's config)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: each config's)")
    parser.add_argument("--sweep", type=float, nargs="*", default=[], help="stage-1 guidance scales to compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    views_model = MultiViewDiffusionModel.from_pretrained(args.views)
    ccms_model = MultiViewDiffusionModel.from_pretrained(args.ccms)
    cfg = views_model.config
    examples = held_out_examples(cfg.input_size, cfg.tile_size, make_rasterizer("torch"), MESH_RESOLUTION)

    steps = {name: args.steps or m.config.num_inference_steps for name, m in (("views", views_model),
                                                                              ("ccms", ccms_model))}
    guidance = {name: args.guidance or m.config.guidance_scale for name, m in (("views", views_model),
                                                                               ("ccms", ccms_model))}
    print(machine_header("bench_multiview: held-out toy objects (24)"))
    print(f"DDIM steps {steps}, guidance {guidance}, seed {args.seed}, tiles {cfg.tile_size} px, "
          f"pictures {cfg.input_size} px")
    print()
    print("| output | PSNR median (dB) | PSNR min | SSIM median | SSIM min | s / object |")
    print("|---|---|---|---|---|---|", flush=True)
    views, views_seconds = timed_generate(views_model, examples.inputs, args.seed, args.steps, args.guidance)
    rows = [("stage 1: views from the picture", score_images(views, examples.views), views_seconds)]
    print_row(*rows[-1])
    from_generated, ccms_seconds = timed_generate(ccms_model, views, args.seed, args.steps, args.guidance)
    rows.append(("stage 2: CCMs from the generated views", score_images(from_generated, examples.ccms), ccms_seconds))
    print_row(*rows[-1])
    from_true, true_seconds = timed_generate(ccms_model, examples.views, args.seed, args.steps, args.guidance)
    rows.append(("stage 2: CCMs from the true views", score_images(from_true, examples.ccms), true_seconds))
    print_row(*rows[-1])
    print()
    print("| category | views PSNR median (dB) | CCMs (generated views) PSNR median (dB) |")
    print("|---|---|---|")
    for category in dict.fromkeys(obj.category for obj in examples.objects):
        index = [i for i, obj in enumerate(examples.objects) if obj.category == category]
        print(f"| {category} | {statistics.median(rows[0][1].psnr[index].tolist()):.2f} | "
              f"{statistics.median(rows[1][1].psnr[index].tolist()):.2f} |")
    if args.sweep:
        print()
        print("| stage 1 guidance scale | views PSNR median (dB) | PSNR min | SSIM median |")
        print("|---|---|---|---|")
    for scale in args.sweep:
        swept, _ = timed_generate(views_model, examples.inputs, args.seed, args.steps, scale)
        s = score_images(swept, examples.views).summary()
        print(f"| {scale:g} | {s['median_psnr']:.2f} | {s['min_psnr']:.2f} | {s['median_ssim']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
