"""T5 encoder as DeepFloyd IF uses it: pad to max_length, pass the attention mask, take the last hidden state.

IF's pipeline zeroes nothing at padded positions; it hands the mask along, and so do we (TextEmbeddings.mask).
"""

from __future__ import annotations

import importlib.util

import torch
from transformers import BitsAndBytesConfig, T5EncoderModel

from atom.text.encoder import TextEmbeddings
from atom.text.pretrained import PretrainedTextEncoder


class T5TextEncoder(PretrainedTextEncoder):
    """Frozen T5 encoder (IF: T5-v1.1-XXL, D = 4096). Tokens [B, max_length, D], no pooled vector.

    path: hub id or local folder holding `subfolder/` (model) and `tokenizer_subfolder/`.
    dtype "float16"/"bfloat16" and `load_in_8bit` (bitsandbytes) are for CUDA devices only.
    """

    def __init__(
        self,
        path: str = "DeepFloyd/IF-I-XL-v1.0",
        subfolder: str | None = "text_encoder",
        tokenizer_subfolder: str | None = "tokenizer",
        max_length: int = 77,
        dtype: str = "float32",
        load_in_8bit: bool = False,
        device: str = "cpu",
    ) -> None:
        model_kwargs = {}
        if load_in_8bit:
            if torch.device(device).type != "cuda":
                raise ValueError(f"load_in_8bit=True needs a CUDA device, got device={device!r}")
            if importlib.util.find_spec("bitsandbytes") is None:
                raise ImportError(
                    "load_in_8bit=True needs the bitsandbytes package, which is not importable; "
                    "install it (pip install bitsandbytes) or use dtype='float16'"
                )
            model_kwargs = {
                "quantization_config": BitsAndBytesConfig(load_in_8bit=True),
                "device_map": {"": device},
            }
        self.load_in_8bit = load_in_8bit
        super().__init__(
            model_class=T5EncoderModel,
            path=path,
            subfolder=subfolder,
            tokenizer_subfolder=tokenizer_subfolder,
            max_length=max_length,
            dtype=dtype,
            device=device,
            model_kwargs=model_kwargs,
            place_model=not load_in_8bit,
        )

    def _identity_extras(self) -> list[str]:
        return ["load_in_8bit=True"] if self.load_in_8bit else []

    def _encode(self, prompts: list[str]) -> TextEmbeddings:
        input_ids, attention_mask = self.tokenize(prompts)
        tokens = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return TextEmbeddings(tokens=tokens, mask=attention_mask.bool())
