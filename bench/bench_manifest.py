"""Cost of checkpoint manifests (``atom.manifest``): hashing a toy checkpoint and a full-size one.

    python bench/bench_manifest.py [--repeats 5] [--megabytes 256]

1. A toy checkpoint (``conf/model/toy.yaml`` generator, random weights): ``model.safetensors`` +
   ``config.json`` written by ``save_pretrained``, and an optimizer-state file the size of AdamW's two moments
   (``torch.save`` of plain tensors, as ``trainer_state.pt``). Median ms of ``write_manifest`` and of
   ``verify_manifest`` over the folder.
2. SHA-256 throughput on one file of ``--megabytes`` random bytes (already in the page cache: this is the
   CPU cost; a cold read adds the disk's), and from it the time for the full-size checkpoint
   (``conf/model/atom.yaml`` generator counted on the meta device: fp32 weights + two AdamW moments).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from omegaconf import OmegaConf
from timing import machine_header, median_times

from atom.config import CONF_DIR
from atom.manifest import file_sha256, verify_manifest, write_manifest
from atom.model import TextToMeshModel


def model_sizes(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml"))


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def toy_checkpoint(folder: Path) -> None:
    """Generator weights + config, and an AdamW-moments-sized state file, into ``folder``."""
    model = TextToMeshModel(**model_sizes("toy"))
    model.save_pretrained(folder)
    moments = {f"{kind}.{name}": torch.randn_like(p) for name, p in model.named_parameters()
               for kind in ("exp_avg", "exp_avg_sq")}
    torch.save(moments, folder / "trainer_state.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--megabytes", type=int, default=256)
    args = parser.parse_args()
    print(machine_header(f"bench_manifest: SHA-256 manifests, median of {args.repeats}"))
    print()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "toy"
        folder.mkdir()
        toy_checkpoint(folder)
        toy_bytes = folder_bytes(folder)
        write_s, _ = median_times(lambda: write_manifest(folder), args.repeats)
        verify_s, _ = median_times(lambda: verify_manifest(folder), args.repeats)

        big = Path(scratch) / "random.bin"
        big.write_bytes(os.urandom(args.megabytes << 20))
        file_sha256(big)  # into the page cache
        hash_s, _ = median_times(lambda: file_sha256(big), args.repeats)
        throughput = (args.megabytes << 20) / hash_s

    with torch.device("meta"):
        params = sum(p.numel() for p in TextToMeshModel(**model_sizes("atom")).parameters())
    full_bytes = 3 * 4 * params  # fp32 weights + AdamW exp_avg + exp_avg_sq
    print("| what | bytes | write_manifest ms | verify_manifest ms |")
    print("|---|---|---|---|")
    print(f"| toy checkpoint (conf/model/toy.yaml, weights + AdamW moments) | {toy_bytes / 2**20:.1f} MiB | "
          f"{write_s * 1e3:.1f} | {verify_s * 1e3:.1f} |")
    print(f"| full-size checkpoint (conf/model/atom.yaml, {params / 1e6:.0f}M params), estimated | "
          f"{full_bytes / 2**20:.0f} MiB | {full_bytes / throughput * 1e3:.0f} | {full_bytes / throughput * 1e3:.0f} |")
    print()
    print(f"SHA-256 throughput (hashlib, one core, {args.megabytes} MiB file in the page cache): "
          f"{throughput / 2**20:.0f} MiB/s")


if __name__ == "__main__":
    main()
