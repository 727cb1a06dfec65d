"""A text encoder from its typed config (``atom.config.TextConfig``): one explicit class per ``kind``.

Lives in the text room so that the embedding cache's command (``python -m atom.text.cache``) and the trainer
(through ``atom.build``) build the same encoder, with the same identity, from the same config.
"""

from __future__ import annotations

import torch

from atom.config import TextConfig, TextEncoderKind
from atom.text.clip import CLIPTextEncoder
from atom.text.encoder import TextEncoder
from atom.text.minilm import MiniLMTextEncoder
from atom.text.t5 import T5TextEncoder


def build_text_encoder(cfg: TextConfig, device: torch.device | str) -> TextEncoder:
    """The frozen encoder ``cfg.kind`` names, from ``cfg.path`` (``None``: the encoder's own default)."""
    if cfg.kind is TextEncoderKind.minilm:
        return MiniLMTextEncoder(path=cfg.path, max_length=cfg.max_length, device=str(device))
    common = dict(max_length=cfg.max_length, dtype=cfg.dtype.value, device=str(device))
    for key in ("path", "subfolder", "tokenizer_subfolder"):
        if getattr(cfg, key) is not None:
            common[key] = getattr(cfg, key)
    if cfg.kind is TextEncoderKind.t5:
        return T5TextEncoder(load_in_8bit=cfg.load_in_8bit, **common)
    return CLIPTextEncoder(**common)
