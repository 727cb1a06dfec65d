"""Time the text room: MiniLM encoding, and filling / reading the embedding cache.

Encodes the Toy64 grid ("a {color} {shape}", 64 prompts) and its view-dependent variants (256 more)
with the bundled MiniLM, then times a cold cache fill, a warm `get_or_encode` (all hits) and a `load`
without the encoder. Prints a Markdown table of median times (each after one warm-up run).

    python bench/bench_text.py [--repeats 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from timing import machine_header, median_times

from atom.prompts import PromptSet, view_prompt
from atom.prompts.views import DREAMFUSION4
from atom.text import EmbeddingCache, MiniLMTextEncoder

COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "white", "black"]
SHAPES = ["cube", "sphere", "cone", "cylinder", "torus", "pyramid", "capsule", "ring"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)

    prompts = PromptSet.from_grid("a {color} {shape}", {"color": COLORS, "shape": SHAPES}).prompts
    everything = prompts + [view_prompt(prompt, view) for prompt in prompts for view in DREAMFUSION4.labels]
    start = time.perf_counter()
    encoder = MiniLMTextEncoder(device=args.device)
    load_s = time.perf_counter() - start

    rows = [("load MiniLM", 1, load_s)]
    encode_s, _ = median_times(lambda: encoder.encode(everything), args.repeats, device)
    rows.append(("encode, batch 64", len(everything), encode_s))
    with tempfile.TemporaryDirectory() as directory:
        cache = EmbeddingCache(directory)
        start = time.perf_counter()
        cache.get_or_encode(encoder, everything)
        rows.append(("cache fill (cold)", len(everything), time.perf_counter() - start))
        warm_s, _ = median_times(lambda: cache.get_or_encode(encoder, everything), args.repeats, device)
        rows.append(("cache get_or_encode (warm)", len(everything), warm_s))
        identity = encoder.identity
        load_cache_s, _ = median_times(lambda: cache.load(identity, everything), args.repeats, device)
        rows.append(("cache load, no encoder", len(everything), load_cache_s))

    print(machine_header(f"bench_text: median of {args.repeats}", device) + "\n")
    print(f"text room, MiniLM (L = {encoder.max_length}, D = {encoder.dim}) on {args.device}\n")
    print("| what | prompts | total s | ms / prompt |")
    print("|---|---:|---:|---:|")
    for name, count, seconds in rows:
        print(f"| {name} | {count} | {seconds:.3f} | {1000 * seconds / count:.2f} |")


if __name__ == "__main__":
    main()
