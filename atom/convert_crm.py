"""``python -m atom.convert_crm CRM.pth out_dir``: CRM's released reconstruction weights -> a pretrained folder.

Reads the checkpoint with ``torch.load(weights_only=True)``, maps CRM's names (and old diffusers attention
names) to :class:`atom.model.reconstruction.ReconstructionModel`'s, prints what was missing, unexpected or
mismatched, and writes ``config.json`` + ``model.safetensors`` that ``ReconstructionModel.from_pretrained``
loads strictly. The logic lives in :mod:`atom.model.crm_checkpoint`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from atom.model.crm_checkpoint import CRMCheckpointError, convert_crm_checkpoint
from atom.model.reconstruction import RECONSTRUCTION_PRESETS, ReconstructionConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atom.convert_crm", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="CRM's reconstruction checkpoint (CRM.pth)")
    parser.add_argument("out_dir", help="folder to write config.json and model.safetensors into")
    parser.add_argument("--preset", default="crm", choices=sorted(RECONSTRUCTION_PRESETS), help="model sizes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        path, report = convert_crm_checkpoint(args.checkpoint, args.out_dir, ReconstructionConfig.preset(args.preset))
    except (FileNotFoundError, CRMCheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
